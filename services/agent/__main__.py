"""``python -m services.agent``: run the agent service."""

from pathlib import Path

from services.agent.api import registrations
from services.agent.clients.gateway import GatewayMessaging
from services.agent.clients.memory import MemoryClient, memory_channel
from services.agent.clients.memory_lifecycle import MemoryLifecycleClient
from services.agent.clients.tool_catalog import ToolCatalogClient
from services.agent.clients.tools import ToolsClient, tools_channel
from services.agent.core.agent_file import document_limit
from services.agent.core.agents import ModelCatalog
from services.agent.core.builtin_tools import BuiltinTools
from services.agent.core.lifecycle import AgentLifecycle
from services.agent.core.loop import AgentLoop
from services.agent.core.tool_calls import ToolExecutor
from services.agent.core.transfer import AgentTransfer
from services.agent.llm import build_providers
from services.agent.store.agents import AgentStore, CallerAgents
from services.agent.store.tables import SCHEMA
from services.common.app import Wiring, main, open_database
from services.common.secret_file import internal_token
from services.common.settings import Settings

SCRIPTED_MODEL = "offline-scripted"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"


async def wire(settings: Settings) -> Wiring:
    engine = await open_database(settings, schema=SCHEMA, migrations=Path(__file__).parent / "migrations")
    providers = build_providers(
        openai_base_url=settings.openai_base_url, openai_api_key=settings.openai_api_key
    )
    to_memory, to_tools = memory_channel(settings), tools_channel(settings)
    memory, agent_memory = MemoryClient(to_memory, settings), MemoryLifecycleClient(to_memory, settings)
    tools, catalog = ToolsClient(to_tools, settings), ToolCatalogClient(to_tools, settings)
    store = AgentStore(engine)
    messaging = GatewayMessaging.connect(
        settings, store, internal_token(settings.internal_token, settings.state_dir)
    )
    builtins = BuiltinTools(memory=memory, messaging=messaging)
    models = ModelCatalog(
        providers=providers.names,
        default_provider=providers.default_provider,
        default_model=settings.default_model
        or (OPENAI_DEFAULT_MODEL if providers.default_provider == "openai" else SCRIPTED_MODEL),
    )
    loop = AgentLoop(
        agents=CallerAgents(store),
        memory=memory,
        providers=providers,
        models=models,
        tools=ToolExecutor(builtins=builtins, custom=tools),
        custom=tools,
    )
    lifecycle = AgentLifecycle(store=store, memory=agent_memory, tools=catalog, models=models)
    transfer = AgentTransfer(
        store=store,
        lifecycle=lifecycle,
        memory=agent_memory,
        tools=catalog,
        models=models,
        max_document_bytes=document_limit(settings.max_message_bytes),
    )
    return Wiring(
        registrations(store=store, loop=loop, lifecycle=lifecycle, transfer=transfer),
        closers=[
            engine.dispose,
            messaging.close,
            to_memory.close,
            to_tools.close,
            providers.aclose,
        ],
    )


if __name__ == "__main__":
    main("agent", wire)
