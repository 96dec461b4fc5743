from agentsuite.common.v1 import common_pb2 as _common_pb2
from agentsuite.gateway.v1 import gateway_pb2 as _gateway_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SendMessageRequest(_message.Message):
    __slots__ = ("agent_id", "messages", "idempotency_key", "busy_policy", "max_steps", "approvals")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    BUSY_POLICY_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.InputMessage]
    idempotency_key: str
    busy_policy: _gateway_pb2.BusyPolicy
    max_steps: int
    approvals: _containers.RepeatedCompositeFieldContainer[_common_pb2.ToolApproval]
    def __init__(self, agent_id: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_common_pb2.InputMessage, _Mapping]]] = ..., idempotency_key: _Optional[str] = ..., busy_policy: _Optional[_Union[_gateway_pb2.BusyPolicy, str]] = ..., max_steps: _Optional[int] = ..., approvals: _Optional[_Iterable[_Union[_common_pb2.ToolApproval, _Mapping]]] = ...) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("run", "messages", "usage")
    RUN_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    run: _gateway_pb2.Run
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.Message]
    usage: _common_pb2.Usage
    def __init__(self, run: _Optional[_Union[_gateway_pb2.Run, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[_common_pb2.Message, _Mapping]]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ...) -> None: ...

class StreamMessageRequest(_message.Message):
    __slots__ = ("agent_id", "messages", "idempotency_key", "busy_policy", "max_steps", "approvals")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    BUSY_POLICY_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.InputMessage]
    idempotency_key: str
    busy_policy: _gateway_pb2.BusyPolicy
    max_steps: int
    approvals: _containers.RepeatedCompositeFieldContainer[_common_pb2.ToolApproval]
    def __init__(self, agent_id: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_common_pb2.InputMessage, _Mapping]]] = ..., idempotency_key: _Optional[str] = ..., busy_policy: _Optional[_Union[_gateway_pb2.BusyPolicy, str]] = ..., max_steps: _Optional[int] = ..., approvals: _Optional[_Iterable[_Union[_common_pb2.ToolApproval, _Mapping]]] = ...) -> None: ...

class StreamMessageResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _gateway_pb2.RunEvent
    def __init__(self, event: _Optional[_Union[_gateway_pb2.RunEvent, _Mapping]] = ...) -> None: ...

class ConverseRequest(_message.Message):
    __slots__ = ("open", "send", "cancel", "approval", "ping")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    SEND_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    open: ConverseOpen
    send: ConverseSend
    cancel: ConverseCancel
    approval: ConverseApproval
    ping: ConversePing
    def __init__(self, open: _Optional[_Union[ConverseOpen, _Mapping]] = ..., send: _Optional[_Union[ConverseSend, _Mapping]] = ..., cancel: _Optional[_Union[ConverseCancel, _Mapping]] = ..., approval: _Optional[_Union[ConverseApproval, _Mapping]] = ..., ping: _Optional[_Union[ConversePing, _Mapping]] = ...) -> None: ...

class ConverseOpen(_message.Message):
    __slots__ = ("agent_id", "resume_run_id", "resume_after_seq")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESUME_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    resume_run_id: str
    resume_after_seq: int
    def __init__(self, agent_id: _Optional[str] = ..., resume_run_id: _Optional[str] = ..., resume_after_seq: _Optional[int] = ...) -> None: ...

class ConverseSend(_message.Message):
    __slots__ = ("messages", "idempotency_key", "busy_policy", "max_steps", "send_id")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    BUSY_POLICY_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    SEND_ID_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.InputMessage]
    idempotency_key: str
    busy_policy: _gateway_pb2.BusyPolicy
    max_steps: int
    send_id: str
    def __init__(self, messages: _Optional[_Iterable[_Union[_common_pb2.InputMessage, _Mapping]]] = ..., idempotency_key: _Optional[str] = ..., busy_policy: _Optional[_Union[_gateway_pb2.BusyPolicy, str]] = ..., max_steps: _Optional[int] = ..., send_id: _Optional[str] = ...) -> None: ...

class ConverseCancel(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class ConverseApproval(_message.Message):
    __slots__ = ("run_id", "approvals", "send_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    SEND_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    approvals: _containers.RepeatedCompositeFieldContainer[_common_pb2.ToolApproval]
    send_id: str
    def __init__(self, run_id: _Optional[str] = ..., approvals: _Optional[_Iterable[_Union[_common_pb2.ToolApproval, _Mapping]]] = ..., send_id: _Optional[str] = ...) -> None: ...

class ConversePing(_message.Message):
    __slots__ = ("nonce",)
    NONCE_FIELD_NUMBER: _ClassVar[int]
    nonce: int
    def __init__(self, nonce: _Optional[int] = ...) -> None: ...

class ConverseResponse(_message.Message):
    __slots__ = ("event", "pong", "send_id")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    SEND_ID_FIELD_NUMBER: _ClassVar[int]
    event: _gateway_pb2.RunEvent
    pong: ConversePong
    send_id: str
    def __init__(self, event: _Optional[_Union[_gateway_pb2.RunEvent, _Mapping]] = ..., pong: _Optional[_Union[ConversePong, _Mapping]] = ..., send_id: _Optional[str] = ...) -> None: ...

class ConversePong(_message.Message):
    __slots__ = ("nonce",)
    NONCE_FIELD_NUMBER: _ClassVar[int]
    nonce: int
    def __init__(self, nonce: _Optional[int] = ...) -> None: ...

class BroadcastRequest(_message.Message):
    __slots__ = ("selector", "messages", "max_concurrency", "busy_policy", "idempotency_key")
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    BUSY_POLICY_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    selector: _gateway_pb2.AgentSelector
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.InputMessage]
    max_concurrency: int
    busy_policy: _gateway_pb2.BusyPolicy
    idempotency_key: str
    def __init__(self, selector: _Optional[_Union[_gateway_pb2.AgentSelector, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[_common_pb2.InputMessage, _Mapping]]] = ..., max_concurrency: _Optional[int] = ..., busy_policy: _Optional[_Union[_gateway_pb2.BusyPolicy, str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class BroadcastResponse(_message.Message):
    __slots__ = ("result", "summary")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    result: _gateway_pb2.BroadcastResult
    summary: _gateway_pb2.BroadcastSummary
    def __init__(self, result: _Optional[_Union[_gateway_pb2.BroadcastResult, _Mapping]] = ..., summary: _Optional[_Union[_gateway_pb2.BroadcastSummary, _Mapping]] = ...) -> None: ...

class CreateRunRequest(_message.Message):
    __slots__ = ("agent_id", "messages", "idempotency_key", "busy_policy", "max_steps", "approvals")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    BUSY_POLICY_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.InputMessage]
    idempotency_key: str
    busy_policy: _gateway_pb2.BusyPolicy
    max_steps: int
    approvals: _containers.RepeatedCompositeFieldContainer[_common_pb2.ToolApproval]
    def __init__(self, agent_id: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_common_pb2.InputMessage, _Mapping]]] = ..., idempotency_key: _Optional[str] = ..., busy_policy: _Optional[_Union[_gateway_pb2.BusyPolicy, str]] = ..., max_steps: _Optional[int] = ..., approvals: _Optional[_Iterable[_Union[_common_pb2.ToolApproval, _Mapping]]] = ...) -> None: ...

class CreateRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: _gateway_pb2.Run
    def __init__(self, run: _Optional[_Union[_gateway_pb2.Run, _Mapping]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: _gateway_pb2.Run
    def __init__(self, run: _Optional[_Union[_gateway_pb2.Run, _Mapping]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("agent_id", "statuses", "page_size", "page_token")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    statuses: _containers.RepeatedScalarFieldContainer[_gateway_pb2.RunStatus]
    page_size: int
    page_token: str
    def __init__(self, agent_id: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[_gateway_pb2.RunStatus, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[_gateway_pb2.Run]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[_gateway_pb2.Run, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class CancelRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: _gateway_pb2.Run
    def __init__(self, run: _Optional[_Union[_gateway_pb2.Run, _Mapping]] = ...) -> None: ...

class WatchRunRequest(_message.Message):
    __slots__ = ("run_id", "after_seq")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    after_seq: int
    def __init__(self, run_id: _Optional[str] = ..., after_seq: _Optional[int] = ...) -> None: ...

class WatchRunResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _gateway_pb2.RunEvent
    def __init__(self, event: _Optional[_Union[_gateway_pb2.RunEvent, _Mapping]] = ...) -> None: ...
