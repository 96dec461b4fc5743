from agentsuite.agent.v1 import agent_pb2 as _agent_pb2
from agentsuite.common.v1 import common_pb2 as _common_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateAgentRequest(_message.Message):
    __slots__ = ("agent", "memory_blocks", "request_id")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    memory_blocks: _containers.RepeatedCompositeFieldContainer[_agent_pb2.BlockSpec]
    request_id: str
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ..., memory_blocks: _Optional[_Iterable[_Union[_agent_pb2.BlockSpec, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class GetAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "tags", "tag_match", "name", "agent_ids")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    TAG_MATCH_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_IDS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    tag_match: _common_pb2.TagMatch
    name: str
    agent_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., tag_match: _Optional[_Union[_common_pb2.TagMatch, str]] = ..., name: _Optional[str] = ..., agent_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents", "next_page_token")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[_agent_pb2.Agent]
    next_page_token: str
    def __init__(self, agents: _Optional[_Iterable[_Union[_agent_pb2.Agent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateAgentRequest(_message.Message):
    __slots__ = ("agent", "update_mask")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class DeleteAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class DeleteAgentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExportAgentRequest(_message.Message):
    __slots__ = ("agent_id", "include_messages", "include_passages")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PASSAGES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    include_messages: bool
    include_passages: bool
    def __init__(self, agent_id: _Optional[str] = ..., include_messages: _Optional[bool] = ..., include_passages: _Optional[bool] = ...) -> None: ...

class ExportAgentResponse(_message.Message):
    __slots__ = ("document_json",)
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    def __init__(self, document_json: _Optional[str] = ...) -> None: ...

class ImportAgentRequest(_message.Message):
    __slots__ = ("document_json", "name_override")
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    NAME_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    name_override: str
    def __init__(self, document_json: _Optional[str] = ..., name_override: _Optional[str] = ...) -> None: ...

class ImportAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class StepRequest(_message.Message):
    __slots__ = ("agent_id", "run_id", "epoch", "input", "max_steps", "approvals", "omit_deltas")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    OMIT_DELTAS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    run_id: str
    epoch: int
    input: _containers.RepeatedCompositeFieldContainer[_common_pb2.InputMessage]
    max_steps: int
    approvals: _containers.RepeatedCompositeFieldContainer[_common_pb2.ToolApproval]
    omit_deltas: bool
    def __init__(self, agent_id: _Optional[str] = ..., run_id: _Optional[str] = ..., epoch: _Optional[int] = ..., input: _Optional[_Iterable[_Union[_common_pb2.InputMessage, _Mapping]]] = ..., max_steps: _Optional[int] = ..., approvals: _Optional[_Iterable[_Union[_common_pb2.ToolApproval, _Mapping]]] = ..., omit_deltas: _Optional[bool] = ...) -> None: ...

class StepResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _common_pb2.AgentEvent
    def __init__(self, event: _Optional[_Union[_common_pb2.AgentEvent, _Mapping]] = ...) -> None: ...
