"""Domain objects of the agent service to protobuf and back."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from google.protobuf import duration_pb2

from agentsuite.agent.v1 import agent_pb2
from agentsuite.common.v1 import common_pb2
from services.agent.clients.memory import ROLES
from services.agent.core import events
from services.agent.core.agents import DEFAULT_CONTEXT_WINDOW, Agent, AgentSpec, InitialBlock, ModelChoice
from services.agent.core.history import HistoryMessage
from services.agent.core.tool_rules import RuleKind, ToolRule
from services.common.errors import Validation
from services.common.protobuf import from_struct, to_struct, to_timestamp, tool_calls_to_proto


def tool_call_to_proto(call) -> common_pb2.ToolCall:
    (proto,) = tool_calls_to_proto((call,))
    return proto


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
        tool_rules=[tool_rule_to_proto(rule) for rule in agent.tool_rules],
        tags=agent.tags,
        metadata=to_struct(agent.metadata),
        max_steps=agent.max_steps,
        archive_id=agent.archive_id,
        block_ids=agent.block_ids,
        create_time=to_timestamp(agent.created_at),
        update_time=to_timestamp(agent.updated_at),
    )


def agent_spec(agent: agent_pb2.Agent) -> AgentSpec:
    """The settable fields of ``agent``, not yet validated; InvalidArgument for a tool rule without
    its kind. An empty provider or model stays empty: the agent follows the suite's default."""
    model = agent.model
    return AgentSpec(
        name=agent.name,
        description=agent.description,
        system_prompt=agent.system_prompt,
        model=ModelChoice(
            provider=model.provider,
            model=model.model,
            context_window=model.context_window or DEFAULT_CONTEXT_WINDOW,
            # A proto float has 7 significant digits: 0.3, not 0.30000001192092896.
            temperature=float(f"{model.temperature:.7g}") if model.HasField("temperature") else None,
            max_output_tokens=model.max_output_tokens,
        ),
        tool_ids=tuple(_canonical_id(tool_id) for tool_id in agent.tool_ids),
        tool_rules=tool_rules_from_proto(agent.tool_rules),
        tags=tuple(agent.tags),
        metadata=from_struct(agent.metadata, "agent.metadata"),
        max_steps=agent.max_steps,
    )


def initial_block(block: agent_pb2.BlockSpec) -> InitialBlock:
    return InitialBlock(
        label=block.label,
        value=block.value,
        limit=block.limit,
        read_only=block.read_only,
        description=block.description,
        block_id=block.block_id,
    )


def tool_rules_from_proto(
    rules: Iterable[agent_pb2.ToolRule], field: str = "agent.tool_rules"
) -> tuple[ToolRule, ...]:
    check = Validation()
    converted = []
    for index, rule in enumerate(rules):
        kind = rule.WhichOneof("rule")
        if kind is None:
            check.check(
                False, f"{field}[{index}]", "set one of terminal, run_first, allowed_children, max_calls"
            )
            continue
        converted.append(
            ToolRule(
                tool_name=rule.tool_name,
                kind=RuleKind(kind),
                children=tuple(rule.allowed_children.children),
                max_calls=rule.max_calls.max_calls,
            )
        )
    check.raise_if_any()
    return tuple(converted)


def tool_rule_to_proto(rule: ToolRule) -> agent_pb2.ToolRule:
    message = agent_pb2.ToolRule(tool_name=rule.tool_name)
    kind = getattr(message, rule.kind.value)  # the oneof's fields are named like the kinds
    kind.SetInParent()
    if rule.kind is RuleKind.ALLOWED_CHILDREN:
        message.allowed_children.children.extend(rule.children)
    elif rule.kind is RuleKind.MAX_CALLS:
        message.max_calls.max_calls = rule.max_calls
    return message


def _canonical_id(value: str) -> str:
    """A UUID in its canonical form; anything else as given (validation names it)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


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
        case events.ToolCallEvent(step, call):
            return common_pb2.AgentEvent(step=step, tool_call=tool_call_to_proto(call))
        case events.ToolReturnEvent(step, call, status, content, seconds):
            return common_pb2.AgentEvent(
                step=step,
                tool_return=common_pb2.ToolReturn(
                    tool_call_id=call.id,
                    name=call.name,
                    content=content,
                    status=int(status),
                    duration=duration(seconds),
                ),
            )
        case events.ApprovalRequested(step, call):
            return common_pb2.AgentEvent(
                step=step, approval_request=common_pb2.ApprovalRequest(tool_call=tool_call_to_proto(call))
            )
        case events.UsageReport(step, usage):
            return common_pb2.AgentEvent(
                step=step,
                usage=common_pb2.Usage(
                    prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens,
                    total_tokens=usage.total_tokens,
                    steps=usage.steps,
                    llm_time=duration(usage.llm_seconds),
                    tool_time=duration(usage.tool_seconds),
                ),
            )
        case events.Stopped(step, reason, detail):
            return common_pb2.AgentEvent(
                step=step, stop=common_pb2.StopInfo(reason=int(reason), detail=detail)
            )
    raise TypeError(f"unknown loop event {event!r}")


def duration(seconds: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(seconds * 1e9))
    return duration
