import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelConfig(_message.Message):
    __slots__ = ("provider", "model", "context_window", "temperature", "max_output_tokens")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    context_window: int
    temperature: float
    max_output_tokens: int
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., context_window: _Optional[int] = ..., temperature: _Optional[float] = ..., max_output_tokens: _Optional[int] = ...) -> None: ...

class BlockSpec(_message.Message):
    __slots__ = ("label", "value", "limit", "read_only", "description", "block_id")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    label: str
    value: str
    limit: int
    read_only: bool
    description: str
    block_id: str
    def __init__(self, label: _Optional[str] = ..., value: _Optional[str] = ..., limit: _Optional[int] = ..., read_only: _Optional[bool] = ..., description: _Optional[str] = ..., block_id: _Optional[str] = ...) -> None: ...

class ToolRule(_message.Message):
    __slots__ = ("tool_name", "terminal", "run_first", "allowed_children", "max_calls")
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    RUN_FIRST_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_CHILDREN_FIELD_NUMBER: _ClassVar[int]
    MAX_CALLS_FIELD_NUMBER: _ClassVar[int]
    tool_name: str
    terminal: TerminalRule
    run_first: RunFirstRule
    allowed_children: AllowedChildrenRule
    max_calls: MaxCallsRule
    def __init__(self, tool_name: _Optional[str] = ..., terminal: _Optional[_Union[TerminalRule, _Mapping]] = ..., run_first: _Optional[_Union[RunFirstRule, _Mapping]] = ..., allowed_children: _Optional[_Union[AllowedChildrenRule, _Mapping]] = ..., max_calls: _Optional[_Union[MaxCallsRule, _Mapping]] = ...) -> None: ...

class TerminalRule(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunFirstRule(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AllowedChildrenRule(_message.Message):
    __slots__ = ("children",)
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    children: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, children: _Optional[_Iterable[str]] = ...) -> None: ...

class MaxCallsRule(_message.Message):
    __slots__ = ("max_calls",)
    MAX_CALLS_FIELD_NUMBER: _ClassVar[int]
    max_calls: int
    def __init__(self, max_calls: _Optional[int] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("id", "name", "description", "system_prompt", "model", "tool_ids", "tool_rules", "tags", "metadata", "max_steps", "block_ids", "archive_id", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TOOL_IDS_FIELD_NUMBER: _ClassVar[int]
    TOOL_RULES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_IDS_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    system_prompt: str
    model: ModelConfig
    tool_ids: _containers.RepeatedScalarFieldContainer[str]
    tool_rules: _containers.RepeatedCompositeFieldContainer[ToolRule]
    tags: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    max_steps: int
    block_ids: _containers.RepeatedScalarFieldContainer[str]
    archive_id: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., system_prompt: _Optional[str] = ..., model: _Optional[_Union[ModelConfig, _Mapping]] = ..., tool_ids: _Optional[_Iterable[str]] = ..., tool_rules: _Optional[_Iterable[_Union[ToolRule, _Mapping]]] = ..., tags: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., max_steps: _Optional[int] = ..., block_ids: _Optional[_Iterable[str]] = ..., archive_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
