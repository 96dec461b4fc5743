"""``python -m services.gateway``: run the gateway, the suite's only public endpoint."""

import os
import socket
import uuid
from pathlib import Path

from agentsuite.agent.v1 import agent_service_pb2
from agentsuite.gateway.v1 import gateway_service_pb2
from agentsuite.memory.v1 import memory_service_pb2
from agentsuite.tools.v1 import tools_service_pb2
from services.common import metrics
from services.common.app import Wiring, main, open_database
from services.common.channels import create_channel
from services.common.db import direct_dsn, open_pool
from services.common.secret_file import internal_token
from services.common.server import Registration
from services.common.settings import Settings, SettingsError
from services.gateway.api.auth import EdgeAuthentication
from services.gateway.api.conversation import ConversationApi, registration
from services.gateway.api.edge import EdgeValidation
from services.gateway.api.forwarder import Forwarder
from services.gateway.clients.agent import AgentRuntimeClient
from services.gateway.core.executor import RunExecutor
from services.gateway.core.hub import RunHubs
from services.gateway.core.keys import ApiKeys
from services.gateway.core.lanes import Lanes
from services.gateway.core.runs import Runs, RunWatchers
from services.gateway.core.writer import EventWriter
from services.gateway.store.keys import KeyStore
from services.gateway.store.notifications import AGENT_WORK, KEY_REVOKED, RUN_CANCEL, RUN_EVENTS, Listener
from services.gateway.store.runs import LeaseStore, RunStore
from services.gateway.store.tables import SCHEMA


async def wire(settings: Settings) -> Wiring:
    if settings.lease_ttl_seconds <= 0 or settings.heartbeat_seconds <= 0 or settings.max_queued_runs < 1:
        raise SettingsError("lease TTL and heartbeat must be positive, and at least one run may queue")
    engine = await open_database(settings, schema=SCHEMA, migrations=Path(__file__).parent / "migrations")
    keys = ApiKeys(KeyStore(engine))
    public = [
        (agent_service_pb2.DESCRIPTOR.services_by_name["AgentService"], settings.agent_addr),
        (memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"], settings.memory_addr),
        (tools_service_pb2.DESCRIPTOR.services_by_name["ToolService"], settings.tools_addr),
    ]
    channels = {address: create_channel(address, settings) for _, address in public}
    agents = AgentRuntimeClient(channels[settings.agent_addr], settings)

    pool = await open_pool(engine, settings)
    store = RunStore(pool)
    holder = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    # A run's readers wait on its watchers until its hub opens here (or news comes from the
    # replica executing it); the lanes hand each run they claim to the executor.
    watchers = RunWatchers()
    hubs = RunHubs(on_open=watchers.wake)
    executor = RunExecutor(
        agents, store, EventWriter(store), hubs, run_timeout_seconds=settings.run_timeout_seconds
    )
    lanes = Lanes(
        store,
        LeaseStore(pool, holder, settings.lease_ttl_seconds),
        executor,
        ttl_seconds=settings.lease_ttl_seconds,
        linger_seconds=min(settings.lane_linger_seconds, settings.lease_ttl_seconds / 2),
        sweep_seconds=max(0.2, settings.lease_ttl_seconds / 3),
    )
    metrics.observe("agentsuite.lanes.active", lambda: [(len(lanes), {})])
    runs = Runs(
        store,
        lanes,
        hubs,
        watchers,
        executor,
        agents,
        max_queued=settings.max_queued_runs,
        heartbeat_seconds=settings.heartbeat_seconds,
        max_call_depth=settings.max_call_depth,
    )

    def on_reconnect() -> None:
        keys.notifications_restored()
        watchers.wake_all()

    listener = Listener(
        direct_dsn(settings, engine),
        {
            RUN_EVENTS: runs.on_events_notification,
            AGENT_WORK: lanes.on_work_notification,
            RUN_CANCEL: runs.on_cancel_notification,
            KEY_REVOKED: keys.on_revoked,
        },
        on_reconnect=on_reconnect,
        on_lost=keys.notifications_lost,
    )
    await listener.start()
    lanes.start()

    forwarder = Forwarder(settings.default_deadline_seconds)
    registrations = [registration(ConversationApi(runs, agents))]
    for service, address in public:
        handler = forwarder.handler(service, channels[address])
        registrations.append(
            Registration(service.full_name, lambda server, h=handler: server.add_generic_rpc_handlers((h,)))
        )

    async def stop_lanes() -> None:
        await lanes.close(settings.grace_seconds)

    closers = [
        engine.dispose,
        pool.close,
        *(channel.close for channel in channels.values()),
        listener.close,
        stop_lanes,
    ]
    return Wiring(
        registrations,
        closers=closers,
        interceptors=[
            EdgeAuthentication(keys, internal_token(settings.internal_token, settings.state_dir)),
            EdgeValidation(
                [gateway_service_pb2.DESCRIPTOR.services_by_name["ConversationService"]]
                + [service for service, _ in public]
            ),
        ],
    )


if __name__ == "__main__":
    main("gateway", wire)
