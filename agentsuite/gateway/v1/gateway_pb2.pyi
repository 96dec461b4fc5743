import datetime

from agentsuite.common.v1 import common_pb2 as _common_pb2
from google.protobuf import any_pb2 as _any_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATUS_UNSPECIFIED: _ClassVar[RunStatus]
    RUN_STATUS_QUEUED: _ClassVar[RunStatus]
    RUN_STATUS_RUNNING: _ClassVar[RunStatus]
    RUN_STATUS_COMPLETED: _ClassVar[RunStatus]
    RUN_STATUS_FAILED: _ClassVar[RunStatus]
    RUN_STATUS_CANCELLED: _ClassVar[RunStatus]
    RUN_STATUS_AWAITING_APPROVAL: _ClassVar[RunStatus]

class BusyPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BUSY_POLICY_UNSPECIFIED: _ClassVar[BusyPolicy]
    BUSY_POLICY_ENQUEUE: _ClassVar[BusyPolicy]
    BUSY_POLICY_REJECT: _ClassVar[BusyPolicy]
    BUSY_POLICY_INTERRUPT: _ClassVar[BusyPolicy]
RUN_STATUS_UNSPECIFIED: RunStatus
RUN_STATUS_QUEUED: RunStatus
RUN_STATUS_RUNNING: RunStatus
RUN_STATUS_COMPLETED: RunStatus
RUN_STATUS_FAILED: RunStatus
RUN_STATUS_CANCELLED: RunStatus
RUN_STATUS_AWAITING_APPROVAL: RunStatus
BUSY_POLICY_UNSPECIFIED: BusyPolicy
BUSY_POLICY_ENQUEUE: BusyPolicy
BUSY_POLICY_REJECT: BusyPolicy
BUSY_POLICY_INTERRUPT: BusyPolicy

class Run(_message.Message):
    __slots__ = ("id", "agent_id", "status", "stop_reason", "stop_detail", "idempotency_key", "input", "usage", "create_time", "start_time", "finish_time", "last_seq", "parent_run_id", "pending_approvals")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    STOP_DETAIL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISH_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    PARENT_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PENDING_APPROVALS_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent_id: str
    status: RunStatus
    stop_reason: _common_pb2.StopReason
    stop_detail: str
    idempotency_key: str
    input: _containers.RepeatedCompositeFieldContainer[_common_pb2.InputMessage]
    usage: _common_pb2.Usage
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    finish_time: _timestamp_pb2.Timestamp
    last_seq: int
    parent_run_id: str
    pending_approvals: _containers.RepeatedCompositeFieldContainer[_common_pb2.ToolCall]
    def __init__(self, id: _Optional[str] = ..., agent_id: _Optional[str] = ..., status: _Optional[_Union[RunStatus, str]] = ..., stop_reason: _Optional[_Union[_common_pb2.StopReason, str]] = ..., stop_detail: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., input: _Optional[_Iterable[_Union[_common_pb2.InputMessage, _Mapping]]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seq: _Optional[int] = ..., parent_run_id: _Optional[str] = ..., pending_approvals: _Optional[_Iterable[_Union[_common_pb2.ToolCall, _Mapping]]] = ...) -> None: ...

class RunEvent(_message.Message):
    __slots__ = ("run_id", "seq", "step", "time", "queued", "started", "reasoning_delta", "assistant_delta", "assistant_message", "tool_call", "tool_return", "approval_request", "usage", "finished", "error", "heartbeat", "message_persisted", "retried")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    REASONING_DELTA_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_DELTA_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    TOOL_RETURN_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_REQUEST_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_PERSISTED_FIELD_NUMBER: _ClassVar[int]
    RETRIED_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    seq: int
    step: int
    time: _timestamp_pb2.Timestamp
    queued: RunQueued
    started: RunStarted
    reasoning_delta: _common_pb2.TextDelta
    assistant_delta: _common_pb2.TextDelta
    assistant_message: _common_pb2.Message
    tool_call: _common_pb2.ToolCall
    tool_return: _common_pb2.ToolReturn
    approval_request: _common_pb2.ApprovalRequest
    usage: _common_pb2.Usage
    finished: RunFinished
    error: ErrorEvent
    heartbeat: Heartbeat
    message_persisted: _common_pb2.Message
    retried: RunRetried
    def __init__(self, run_id: _Optional[str] = ..., seq: _Optional[int] = ..., step: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., queued: _Optional[_Union[RunQueued, _Mapping]] = ..., started: _Optional[_Union[RunStarted, _Mapping]] = ..., reasoning_delta: _Optional[_Union[_common_pb2.TextDelta, _Mapping]] = ..., assistant_delta: _Optional[_Union[_common_pb2.TextDelta, _Mapping]] = ..., assistant_message: _Optional[_Union[_common_pb2.Message, _Mapping]] = ..., tool_call: _Optional[_Union[_common_pb2.ToolCall, _Mapping]] = ..., tool_return: _Optional[_Union[_common_pb2.ToolReturn, _Mapping]] = ..., approval_request: _Optional[_Union[_common_pb2.ApprovalRequest, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., finished: _Optional[_Union[RunFinished, _Mapping]] = ..., error: _Optional[_Union[ErrorEvent, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., message_persisted: _Optional[_Union[_common_pb2.Message, _Mapping]] = ..., retried: _Optional[_Union[RunRetried, _Mapping]] = ...) -> None: ...

class RunQueued(_message.Message):
    __slots__ = ("position",)
    POSITION_FIELD_NUMBER: _ClassVar[int]
    position: int
    def __init__(self, position: _Optional[int] = ...) -> None: ...

class RunStarted(_message.Message):
    __slots__ = ("epoch",)
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    def __init__(self, epoch: _Optional[int] = ...) -> None: ...

class RunRetried(_message.Message):
    __slots__ = ("attempt", "reason")
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    reason: str
    def __init__(self, attempt: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class RunFinished(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class ErrorEvent(_message.Message):
    __slots__ = ("code", "message", "details")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    details: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., details: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AgentSelector(_message.Message):
    __slots__ = ("agent_ids", "tags", "tag_match")
    AGENT_IDS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    TAG_MATCH_FIELD_NUMBER: _ClassVar[int]
    agent_ids: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    tag_match: _common_pb2.TagMatch
    def __init__(self, agent_ids: _Optional[_Iterable[str]] = ..., tags: _Optional[_Iterable[str]] = ..., tag_match: _Optional[_Union[_common_pb2.TagMatch, str]] = ...) -> None: ...

class BroadcastResult(_message.Message):
    __slots__ = ("agent_id", "run", "messages", "error_code", "error_message", "error_details")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_DETAILS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    run: Run
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.Message]
    error_code: int
    error_message: str
    error_details: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    def __init__(self, agent_id: _Optional[str] = ..., run: _Optional[_Union[Run, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[_common_pb2.Message, _Mapping]]] = ..., error_code: _Optional[int] = ..., error_message: _Optional[str] = ..., error_details: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ...) -> None: ...

class BroadcastSummary(_message.Message):
    __slots__ = ("total", "succeeded", "failed", "elapsed")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    total: int
    succeeded: int
    failed: int
    elapsed: _duration_pb2.Duration
    def __init__(self, total: _Optional[int] = ..., succeeded: _Optional[int] = ..., failed: _Optional[int] = ..., elapsed: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...
