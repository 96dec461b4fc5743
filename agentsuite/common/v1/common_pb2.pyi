import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MessageRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_ROLE_UNSPECIFIED: _ClassVar[MessageRole]
    MESSAGE_ROLE_SYSTEM: _ClassVar[MessageRole]
    MESSAGE_ROLE_USER: _ClassVar[MessageRole]
    MESSAGE_ROLE_ASSISTANT: _ClassVar[MessageRole]
    MESSAGE_ROLE_TOOL: _ClassVar[MessageRole]

class TagMatch(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TAG_MATCH_UNSPECIFIED: _ClassVar[TagMatch]
    TAG_MATCH_ALL: _ClassVar[TagMatch]
    TAG_MATCH_ANY: _ClassVar[TagMatch]

class StopReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STOP_REASON_UNSPECIFIED: _ClassVar[StopReason]
    STOP_REASON_END_TURN: _ClassVar[StopReason]
    STOP_REASON_TERMINAL_TOOL: _ClassVar[StopReason]
    STOP_REASON_MAX_STEPS: _ClassVar[StopReason]
    STOP_REASON_APPROVAL_REQUIRED: _ClassVar[StopReason]
    STOP_REASON_CANCELLED: _ClassVar[StopReason]
    STOP_REASON_CONTEXT_OVERFLOW: _ClassVar[StopReason]
    STOP_REASON_LLM_ERROR: _ClassVar[StopReason]
    STOP_REASON_INVALID_TOOL_CALL: _ClassVar[StopReason]
    STOP_REASON_ERROR: _ClassVar[StopReason]

class ToolReturnStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOOL_RETURN_STATUS_UNSPECIFIED: _ClassVar[ToolReturnStatus]
    TOOL_RETURN_STATUS_OK: _ClassVar[ToolReturnStatus]
    TOOL_RETURN_STATUS_ERROR: _ClassVar[ToolReturnStatus]
    TOOL_RETURN_STATUS_TIMEOUT: _ClassVar[ToolReturnStatus]
    TOOL_RETURN_STATUS_DENIED: _ClassVar[ToolReturnStatus]
MESSAGE_ROLE_UNSPECIFIED: MessageRole
MESSAGE_ROLE_SYSTEM: MessageRole
MESSAGE_ROLE_USER: MessageRole
MESSAGE_ROLE_ASSISTANT: MessageRole
MESSAGE_ROLE_TOOL: MessageRole
TAG_MATCH_UNSPECIFIED: TagMatch
TAG_MATCH_ALL: TagMatch
TAG_MATCH_ANY: TagMatch
STOP_REASON_UNSPECIFIED: StopReason
STOP_REASON_END_TURN: StopReason
STOP_REASON_TERMINAL_TOOL: StopReason
STOP_REASON_MAX_STEPS: StopReason
STOP_REASON_APPROVAL_REQUIRED: StopReason
STOP_REASON_CANCELLED: StopReason
STOP_REASON_CONTEXT_OVERFLOW: StopReason
STOP_REASON_LLM_ERROR: StopReason
STOP_REASON_INVALID_TOOL_CALL: StopReason
STOP_REASON_ERROR: StopReason
TOOL_RETURN_STATUS_UNSPECIFIED: ToolReturnStatus
TOOL_RETURN_STATUS_OK: ToolReturnStatus
TOOL_RETURN_STATUS_ERROR: ToolReturnStatus
TOOL_RETURN_STATUS_TIMEOUT: ToolReturnStatus
TOOL_RETURN_STATUS_DENIED: ToolReturnStatus

class ToolCall(_message.Message):
    __slots__ = ("id", "name", "arguments_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    arguments_json: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., arguments_json: _Optional[str] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("id", "agent_id", "seq", "role", "content", "tool_calls", "tool_call_id", "name", "run_id", "step", "create_time", "metadata", "reasoning")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent_id: str
    seq: int
    role: MessageRole
    content: str
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    tool_call_id: str
    name: str
    run_id: str
    step: int
    create_time: _timestamp_pb2.Timestamp
    metadata: _struct_pb2.Struct
    reasoning: str
    def __init__(self, id: _Optional[str] = ..., agent_id: _Optional[str] = ..., seq: _Optional[int] = ..., role: _Optional[_Union[MessageRole, str]] = ..., content: _Optional[str] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., tool_call_id: _Optional[str] = ..., name: _Optional[str] = ..., run_id: _Optional[str] = ..., step: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., reasoning: _Optional[str] = ...) -> None: ...

class InputMessage(_message.Message):
    __slots__ = ("role", "content", "name", "metadata")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    role: MessageRole
    content: str
    name: str
    metadata: _struct_pb2.Struct
    def __init__(self, role: _Optional[_Union[MessageRole, str]] = ..., content: _Optional[str] = ..., name: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "total_tokens", "steps", "llm_time", "tool_time")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    LLM_TIME_FIELD_NUMBER: _ClassVar[int]
    TOOL_TIME_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    steps: int
    llm_time: _duration_pb2.Duration
    tool_time: _duration_pb2.Duration
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., steps: _Optional[int] = ..., llm_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., tool_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class TextDelta(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class ToolReturn(_message.Message):
    __slots__ = ("tool_call_id", "name", "content", "status", "duration")
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    tool_call_id: str
    name: str
    content: str
    status: ToolReturnStatus
    duration: _duration_pb2.Duration
    def __init__(self, tool_call_id: _Optional[str] = ..., name: _Optional[str] = ..., content: _Optional[str] = ..., status: _Optional[_Union[ToolReturnStatus, str]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ApprovalRequest(_message.Message):
    __slots__ = ("tool_call",)
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    tool_call: ToolCall
    def __init__(self, tool_call: _Optional[_Union[ToolCall, _Mapping]] = ...) -> None: ...

class ToolApproval(_message.Message):
    __slots__ = ("tool_call_id", "approve", "reason")
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    tool_call_id: str
    approve: bool
    reason: str
    def __init__(self, tool_call_id: _Optional[str] = ..., approve: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class StopInfo(_message.Message):
    __slots__ = ("reason", "detail")
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    reason: StopReason
    detail: str
    def __init__(self, reason: _Optional[_Union[StopReason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class AgentEvent(_message.Message):
    __slots__ = ("step", "reasoning_delta", "assistant_delta", "assistant_message", "tool_call", "tool_return", "approval_request", "usage", "stop", "message_persisted")
    STEP_FIELD_NUMBER: _ClassVar[int]
    REASONING_DELTA_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_DELTA_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    TOOL_RETURN_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_REQUEST_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_PERSISTED_FIELD_NUMBER: _ClassVar[int]
    step: int
    reasoning_delta: TextDelta
    assistant_delta: TextDelta
    assistant_message: Message
    tool_call: ToolCall
    tool_return: ToolReturn
    approval_request: ApprovalRequest
    usage: Usage
    stop: StopInfo
    message_persisted: Message
    def __init__(self, step: _Optional[int] = ..., reasoning_delta: _Optional[_Union[TextDelta, _Mapping]] = ..., assistant_delta: _Optional[_Union[TextDelta, _Mapping]] = ..., assistant_message: _Optional[_Union[Message, _Mapping]] = ..., tool_call: _Optional[_Union[ToolCall, _Mapping]] = ..., tool_return: _Optional[_Union[ToolReturn, _Mapping]] = ..., approval_request: _Optional[_Union[ApprovalRequest, _Mapping]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., stop: _Optional[_Union[StopInfo, _Mapping]] = ..., message_persisted: _Optional[_Union[Message, _Mapping]] = ...) -> None: ...
