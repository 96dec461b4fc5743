"""Authentication at the edge: the bearer key decides the tenant, whatever else the client sent."""

from __future__ import annotations

import grpc

from services.common.call import current_call, enter_call
from services.gateway.core.keys import ApiKeys


async def authenticate(keys: ApiKeys, context: grpc.aio.ServicerContext) -> str:
    """Resolve the call's API key to its tenant and make that the tenant of the current call.

    A client-sent ``x-agentsuite-tenant`` is overwritten here, so it can never choose a tenant.
    """
    authorization = None
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            authorization = value
            break
    tenant = await keys.tenant_for(authorization)
    # Left in place until the handler's own scope is reset when the RPC ends.
    enter_call(current_call().with_tenant(tenant))
    return tenant
