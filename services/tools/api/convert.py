"""Between the tools service's protobuf messages and its core dataclasses."""

from __future__ import annotations

from datetime import timedelta

from google.protobuf import duration_pb2

from agentsuite.tools.v1 import tools_pb2
from services.common.protobuf import from_struct, to_struct, to_timestamp
from services.tools.core.execution import ExecutionResult, ExecutionStatus
from services.tools.core.tools import Tool, ToolDraft
from services.tools.store.secrets import SecretInfo

STATUSES = {
    ExecutionStatus.OK: tools_pb2.EXECUTION_STATUS_OK,
    ExecutionStatus.ERROR: tools_pb2.EXECUTION_STATUS_ERROR,
    ExecutionStatus.TIMEOUT: tools_pb2.EXECUTION_STATUS_TIMEOUT,
    ExecutionStatus.KILLED: tools_pb2.EXECUTION_STATUS_KILLED,
    ExecutionStatus.CANCELLED: tools_pb2.EXECUTION_STATUS_CANCELLED,
}


def seconds(duration: duration_pb2.Duration) -> float:
    return duration.ToTimedelta().total_seconds()


def to_duration(value: float | None) -> duration_pb2.Duration | None:
    if value is None:
        return None
    duration = duration_pb2.Duration()
    duration.FromTimedelta(timedelta(seconds=value))
    return duration


def draft_from_proto(tool: tools_pb2.Tool) -> ToolDraft:
    return ToolDraft(
        name=tool.name,
        description=tool.description,
        source_code=tool.source_code,
        json_schema=from_struct(tool.json_schema) if tool.HasField("json_schema") else None,
        parallel_safe=tool.parallel_safe,
        requires_approval=tool.requires_approval,
        result_char_limit=tool.result_char_limit,
        timeout_seconds=seconds(tool.timeout) if tool.HasField("timeout") else None,
        secret_names=tuple(tool.secret_names),
        tags=tuple(tool.tags),
    )


def tool_to_proto(tool: Tool) -> tools_pb2.Tool:
    return tools_pb2.Tool(
        id=tool.id,
        name=tool.name,
        description=tool.description,
        source_code=tool.source_code,
        json_schema=to_struct(tool.json_schema),
        parallel_safe=tool.parallel_safe,
        requires_approval=tool.requires_approval,
        result_char_limit=tool.result_char_limit,
        timeout=to_duration(tool.timeout_seconds),
        secret_names=tool.secret_names,
        tags=tool.tags,
        create_time=to_timestamp(tool.created_at),
        update_time=to_timestamp(tool.updated_at),
    )


def result_to_proto(result: ExecutionResult) -> tools_pb2.ExecutionResult:
    return tools_pb2.ExecutionResult(
        status=STATUSES[result.status],
        result_json=result.result_json,
        stdout=result.stdout,
        stderr=result.stderr,
        error_type=result.error_type,
        error_message=result.error_message,
        truncated=result.truncated,
        duration=to_duration(result.duration_seconds),
    )


def secret_to_proto(secret: SecretInfo) -> tools_pb2.Secret:
    return tools_pb2.Secret(
        name=secret.name,
        agent_id=secret.agent_id,
        create_time=to_timestamp(secret.created_at),
        update_time=to_timestamp(secret.updated_at),
    )
