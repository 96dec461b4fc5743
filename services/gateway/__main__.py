"""``python -m services.gateway``: run the gateway, the suite's only public endpoint."""

from pathlib import Path

from agentsuite.agent.v1 import agent_service_pb2
from agentsuite.memory.v1 import memory_service_pb2
from agentsuite.tools.v1 import tools_service_pb2
from services.common.app import Wiring, main, open_database
from services.common.call import distrust_tenant_metadata
from services.common.channels import create_channel
from services.common.secret_file import internal_token
from services.common.server import Registration
from services.common.settings import Settings
from services.gateway.agent_client import AgentRuntimeClient
from services.gateway.auth import EdgeAuthentication
from services.gateway.conversation import ConversationApi, registration
from services.gateway.core.keys import ApiKeys
from services.gateway.core.lanes import AgentLanes
from services.gateway.forwarder import Forwarder
from services.gateway.store.keys import KeyStore
from services.gateway.store.tables import SCHEMA


async def wire(settings: Settings) -> Wiring:
    engine = await open_database(settings, schema=SCHEMA, migrations=Path(__file__).parent / "migrations")
    keys = ApiKeys(KeyStore(engine))
    runtime = AgentRuntimeClient.connect(settings)
    distrust_tenant_metadata()
    forwarder = Forwarder(settings.default_deadline_seconds)
    public = [
        (agent_service_pb2.DESCRIPTOR.services_by_name["AgentService"], settings.agent_addr),
        (memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"], settings.memory_addr),
        (tools_service_pb2.DESCRIPTOR.services_by_name["ToolService"], settings.tools_addr),
    ]
    channels = {address: create_channel(address, settings) for _, address in public}
    registrations = [registration(ConversationApi(AgentLanes(), runtime))]
    for service, address in public:
        handler = forwarder.handler(service, channels[address])
        registrations.append(
            Registration(service.full_name, lambda server, h=handler: server.add_generic_rpc_handlers((h,)))
        )
    closers = [engine.dispose, runtime.close, *(channel.close for channel in channels.values())]
    return Wiring(
        registrations,
        closers=closers,
        interceptors=[EdgeAuthentication(keys, internal_token(settings.internal_token, settings.state_dir))],
    )


if __name__ == "__main__":
    main("gateway", wire)
