"""Secret RPCs of the public ToolService. Values go in and never come out."""

from __future__ import annotations

from agentsuite.tools.v1 import tools_service_pb2
from services.common.call import require_tenant
from services.common.errors import Validation
from services.common.protobuf import require_id
from services.tools.api.convert import secret_to_proto
from services.tools.core.tools import is_valid_secret_name
from services.tools.store.secrets import SecretStore

MAX_SECRET_VALUE_CHARS = 64 * 1024


def _agent(agent_id: str) -> str:
    return require_id(agent_id, "agent_id") if agent_id else ""


class SecretRpcs:
    """Mixin of :class:`services.tools.api.ToolApi`."""

    _secrets: SecretStore

    async def SetSecret(self, request: tools_service_pb2.SetSecretRequest, context):
        tenant = require_tenant()
        check = Validation()
        check.check(
            is_valid_secret_name(request.name),
            "name",
            "must be an environment variable name (letters, digits, underscores; not PATH, LANG, "
            "HOME, PWD, TMPDIR, SHELL, IFS, nor starting with PYTHON, LD_, LC_ or AGENTSUITE_)",
        )
        # Never echo the value: describe it by its size only.
        check.check(bool(request.value), "value", "must not be empty")
        check.check(
            len(request.value) <= MAX_SECRET_VALUE_CHARS,
            "value",
            f"must be at most {MAX_SECRET_VALUE_CHARS} characters",
        )
        check.check("\0" not in request.value, "value", "must not contain NUL characters")
        check.raise_if_any()
        secret = await self._secrets.set(tenant, _agent(request.agent_id), request.name, request.value)
        return tools_service_pb2.SetSecretResponse(secret=secret_to_proto(secret))

    async def ListSecrets(self, request: tools_service_pb2.ListSecretsRequest, context):
        found = await self._secrets.list(require_tenant(), _agent(request.agent_id))
        return tools_service_pb2.ListSecretsResponse(secrets=[secret_to_proto(s) for s in found])

    async def DeleteSecret(self, request: tools_service_pb2.DeleteSecretRequest, context):
        await self._secrets.delete(require_tenant(), _agent(request.agent_id), request.name)
        return tools_service_pb2.DeleteSecretResponse()
