"""The agent service's gRPC API: the public AgentService and the internal AgentRuntime."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import duration_pb2

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from services.agent.core import events
from services.agent.core.agents import DEFAULT_CONTEXT_WINDOW, Agent, AgentSpec, InitialBlock, ModelChoice
from services.agent.core.history import HistoryMessage
from services.agent.core.loop import AgentLoop, RunRequest
from services.agent.llm import ProviderRegistry
from services.agent.memory_client import ROLES, MemoryClient
from services.agent.store.agents import AgentStore
from services.common.call import current_call, require_tenant
from services.common.errors import InvalidArgument, Unimplemented, Validation
from services.common.paging import decode_token, encode_token, page_size
from services.common.protobuf import from_struct, require_id, to_struct, to_timestamp, tool_calls_to_proto
from services.common.server import Registration, servicer

MAX_INPUT_MESSAGES = 100
MAX_INPUT_CHARS = 1_000_000


@servicer
class AgentApi(agent_service_pb2_grpc.AgentServiceServicer):
    """Agents: create, read, list."""

    def __init__(
        self, store: AgentStore, providers: ProviderRegistry, default_model: str, memory: MemoryClient
    ):
        self._store = store
        self._memory = memory
        self._providers = providers
        self._default_model = default_model

    async def CreateAgent(self, request: agent_service_pb2.CreateAgentRequest, context):
        tenant = require_tenant()
        if request.agent.tool_ids or request.agent.tool_rules:
            raise Unimplemented("agent.tool_ids / agent.tool_rules: tools are not implemented yet")
        spec = self._spec(request.agent)
        agent = await self._store.create(tenant, spec, request_id=request.request_id)
        # After the agent row: a failure here leaves an agent whose retry (same request_id) finds
        # it and sets its memory up then; memory keeps the first set-up of an agent.
        await self._memory.initialize(agent.id, [_initial_block(b) for b in request.memory_blocks])
        return agent_service_pb2.CreateAgentResponse(agent=agent_to_proto(agent))

    async def GetAgent(self, request: agent_service_pb2.GetAgentRequest, context):
        agent = await self._store.get(require_tenant(), require_id(request.agent_id, "agent_id"))
        return agent_service_pb2.GetAgentResponse(agent=agent_to_proto(agent))

    async def ListAgents(self, request: agent_service_pb2.ListAgentsRequest, context):
        tenant = require_tenant()
        limit = page_size(request.page_size)
        position = decode_token(request.page_token)
        after = None
        if position is not None:
            try:
                after = (datetime.fromisoformat(position["t"]), require_id(position["id"], "page_token"))
            except (KeyError, TypeError, ValueError):
                raise InvalidArgument.field("page_token", "not a token this service issued") from None
        page = await self._store.list(
            tenant,
            limit=limit + 1,
            after=after,
            tags=tuple(request.tags),
            match_all_tags=request.tag_match != common_pb2.TAG_MATCH_ANY,
            name=request.name,
        )
        token = ""
        if len(page) > limit:
            page = page[:limit]
            token = encode_token({"t": page[-1].created_at.isoformat(), "id": page[-1].id})
        return agent_service_pb2.ListAgentsResponse(
            agents=[agent_to_proto(a) for a in page], next_page_token=token
        )

    def _spec(self, agent: agent_pb2.Agent) -> AgentSpec:
        provider = agent.model.provider or self._providers.default_provider
        if provider not in self._providers.names:
            known = ", ".join(self._providers.names)
            raise InvalidArgument.field(
                "agent.model.provider", f"unknown provider {provider!r}; known: {known}"
            )
        spec = AgentSpec(
            name=agent.name,
            description=agent.description,
            system_prompt=agent.system_prompt,
            model=ModelChoice(
                provider=provider,
                model=agent.model.model or self._default_model,
                context_window=agent.model.context_window or DEFAULT_CONTEXT_WINDOW,
                temperature=agent.model.temperature if agent.model.HasField("temperature") else None,
                max_output_tokens=agent.model.max_output_tokens,
            ),
            tags=tuple(agent.tags),
            metadata=from_struct(agent.metadata),
            max_steps=agent.max_steps,
        )
        spec.validate()
        return spec


@servicer
class AgentRuntimeApi(agent_service_pb2_grpc.AgentRuntimeServicer):
    """Runs one input through the agent loop and streams its events (called by the gateway only)."""

    def __init__(self, store: AgentStore, loop: AgentLoop):
        self._store = store
        self._loop = loop

    async def Step(self, request: agent_service_pb2.StepRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id")
        run_input = _run_input(request)
        agent = await self._store.get(tenant, agent_id)
        run = RunRequest(
            agent=agent,
            run_id=request.run_id,
            epoch=request.epoch,
            input=run_input,
            deadline=current_call().deadline,
        )
        async for event in self._loop.run(run):
            if request.omit_deltas and isinstance(event, events.AssistantDelta | events.ReasoningDelta):
                continue
            yield agent_service_pb2.StepResponse(event=event_to_proto(event, agent_id))


def _run_input(request: agent_service_pb2.StepRequest) -> tuple[HistoryMessage, ...]:
    check = Validation()
    check.check(bool(request.run_id), "run_id", "required")
    check.check(
        0 < len(request.input) <= MAX_INPUT_MESSAGES, "input", f"between 1 and {MAX_INPUT_MESSAGES} messages"
    )
    check.check(request.epoch >= 0, "epoch", "must not be negative")
    allowed = (common_pb2.MESSAGE_ROLE_USER, common_pb2.MESSAGE_ROLE_SYSTEM)
    for index, message in enumerate(request.input):
        check.check(message.role in allowed, f"input[{index}].role", "must be USER or SYSTEM")
        check.check(bool(message.content), f"input[{index}].content", "must not be empty")
        check.check(
            len(message.content) <= MAX_INPUT_CHARS,
            f"input[{index}].content",
            f"at most {MAX_INPUT_CHARS} characters",
        )
    check.raise_if_any()
    if request.approvals:
        raise Unimplemented("approvals: tool approval is not implemented yet")
    role_names = {number: name for name, number in ROLES.items()}
    return tuple(
        HistoryMessage(
            role=role_names[message.role],
            content=message.content,
            name=message.name,
            metadata=from_struct(message.metadata),
            step=1,
            run_id=request.run_id,
        )
        for message in request.input
    )


def agent_to_proto(agent: Agent) -> agent_pb2.Agent:
    return agent_pb2.Agent(
        id=agent.id,
        name=agent.name,
        description=agent.description,
        system_prompt=agent.system_prompt,
        model=agent_pb2.ModelConfig(
            provider=agent.model.provider,
            model=agent.model.model,
            context_window=agent.model.context_window,
            temperature=agent.model.temperature,
            max_output_tokens=agent.model.max_output_tokens,
        ),
        tool_ids=agent.tool_ids,
        tags=agent.tags,
        metadata=to_struct(agent.metadata),
        max_steps=agent.max_steps,
        archive_id=agent.archive_id,
        create_time=to_timestamp(agent.created_at),
        update_time=to_timestamp(agent.updated_at),
    )


def message_to_proto(message: HistoryMessage, agent_id: str) -> common_pb2.Message:
    return common_pb2.Message(
        id=message.id,
        agent_id=agent_id,
        seq=message.seq,
        role=ROLES[message.role],
        content=message.content,
        reasoning=message.reasoning,
        tool_calls=tool_calls_to_proto(message.tool_calls),
        tool_call_id=message.tool_call_id,
        name=message.name,
        run_id=message.run_id,
        step=message.step,
        metadata=to_struct(message.metadata),
    )


def event_to_proto(event: events.LoopEvent, agent_id: str) -> common_pb2.AgentEvent:
    match event:
        case events.AssistantDelta(step, text):
            return common_pb2.AgentEvent(step=step, assistant_delta=common_pb2.TextDelta(text=text))
        case events.ReasoningDelta(step, text):
            return common_pb2.AgentEvent(step=step, reasoning_delta=common_pb2.TextDelta(text=text))
        case events.MessagePersisted(step, message):
            return common_pb2.AgentEvent(step=step, message_persisted=message_to_proto(message, agent_id))
        case events.AssistantMessage(step, message):
            return common_pb2.AgentEvent(step=step, assistant_message=message_to_proto(message, agent_id))
        case events.UsageReport(step, usage):
            return common_pb2.AgentEvent(
                step=step,
                usage=common_pb2.Usage(
                    prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens,
                    total_tokens=usage.total_tokens,
                    steps=usage.steps,
                    llm_time=_duration(usage.llm_seconds),
                    tool_time=_duration(usage.tool_seconds),
                ),
            )
        case events.Stopped(step, reason, detail):
            return common_pb2.AgentEvent(
                step=step, stop=common_pb2.StopInfo(reason=int(reason), detail=detail)
            )
    raise TypeError(f"unknown loop event {event!r}")


def _initial_block(block: agent_pb2.BlockSpec) -> InitialBlock:
    return InitialBlock(
        label=block.label,
        value=block.value,
        limit=block.limit,
        read_only=block.read_only,
        description=block.description,
        block_id=block.block_id,
    )


def _duration(seconds: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(seconds * 1e9))
    return duration


def registrations(
    store: AgentStore,
    providers: ProviderRegistry,
    loop: AgentLoop,
    default_model: str,
    memory: MemoryClient,
):
    file = agent_service_pb2.DESCRIPTOR
    return [
        Registration.of(
            file,
            "AgentService",
            agent_service_pb2_grpc.add_AgentServiceServicer_to_server,
            AgentApi(store, providers, default_model, memory),
        ),
        Registration.of(
            file,
            "AgentRuntime",
            agent_service_pb2_grpc.add_AgentRuntimeServicer_to_server,
            AgentRuntimeApi(store, loop),
        ),
    ]
