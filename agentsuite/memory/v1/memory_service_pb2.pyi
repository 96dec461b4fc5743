import datetime

from agentsuite.common.v1 import common_pb2 as _common_pb2
from agentsuite.memory.v1 import memory_pb2 as _memory_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateBlockRequest(_message.Message):
    __slots__ = ("block", "agent_id")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    block: _memory_pb2.Block
    agent_id: str
    def __init__(self, block: _Optional[_Union[_memory_pb2.Block, _Mapping]] = ..., agent_id: _Optional[str] = ...) -> None: ...

class CreateBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _memory_pb2.Block
    def __init__(self, block: _Optional[_Union[_memory_pb2.Block, _Mapping]] = ...) -> None: ...

class GetBlockRequest(_message.Message):
    __slots__ = ("block_id",)
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    block_id: str
    def __init__(self, block_id: _Optional[str] = ...) -> None: ...

class GetBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _memory_pb2.Block
    def __init__(self, block: _Optional[_Union[_memory_pb2.Block, _Mapping]] = ...) -> None: ...

class ListBlocksRequest(_message.Message):
    __slots__ = ("agent_id", "label", "page_size", "page_token")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    label: str
    page_size: int
    page_token: str
    def __init__(self, agent_id: _Optional[str] = ..., label: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBlocksResponse(_message.Message):
    __slots__ = ("blocks", "next_page_token")
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    blocks: _containers.RepeatedCompositeFieldContainer[_memory_pb2.Block]
    next_page_token: str
    def __init__(self, blocks: _Optional[_Iterable[_Union[_memory_pb2.Block, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateBlockRequest(_message.Message):
    __slots__ = ("block", "update_mask", "expected_version")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    block: _memory_pb2.Block
    update_mask: _field_mask_pb2.FieldMask
    expected_version: int
    def __init__(self, block: _Optional[_Union[_memory_pb2.Block, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class UpdateBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _memory_pb2.Block
    def __init__(self, block: _Optional[_Union[_memory_pb2.Block, _Mapping]] = ...) -> None: ...

class DeleteBlockRequest(_message.Message):
    __slots__ = ("block_id",)
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    block_id: str
    def __init__(self, block_id: _Optional[str] = ...) -> None: ...

class DeleteBlockResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AttachBlockRequest(_message.Message):
    __slots__ = ("block_id", "agent_id")
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    block_id: str
    agent_id: str
    def __init__(self, block_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class AttachBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _memory_pb2.Block
    def __init__(self, block: _Optional[_Union[_memory_pb2.Block, _Mapping]] = ...) -> None: ...

class DetachBlockRequest(_message.Message):
    __slots__ = ("block_id", "agent_id")
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    block_id: str
    agent_id: str
    def __init__(self, block_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class DetachBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _memory_pb2.Block
    def __init__(self, block: _Optional[_Union[_memory_pb2.Block, _Mapping]] = ...) -> None: ...

class EditBlockRequest(_message.Message):
    __slots__ = ("block_id", "agent_id", "label", "edit", "expected_version", "run_id", "epoch", "idempotency_key")
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    EDIT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    block_id: str
    agent_id: str
    label: str
    edit: _memory_pb2.BlockEdit
    expected_version: int
    run_id: str
    epoch: int
    idempotency_key: str
    def __init__(self, block_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., label: _Optional[str] = ..., edit: _Optional[_Union[_memory_pb2.BlockEdit, _Mapping]] = ..., expected_version: _Optional[int] = ..., run_id: _Optional[str] = ..., epoch: _Optional[int] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class EditBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _memory_pb2.Block
    def __init__(self, block: _Optional[_Union[_memory_pb2.Block, _Mapping]] = ...) -> None: ...

class ListBlockHistoryRequest(_message.Message):
    __slots__ = ("block_id", "page_size", "page_token")
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    block_id: str
    page_size: int
    page_token: str
    def __init__(self, block_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBlockHistoryResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_memory_pb2.BlockHistoryEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[_memory_pb2.BlockHistoryEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RestoreBlockVersionRequest(_message.Message):
    __slots__ = ("block_id", "version", "expected_version")
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    block_id: str
    version: int
    expected_version: int
    def __init__(self, block_id: _Optional[str] = ..., version: _Optional[int] = ..., expected_version: _Optional[int] = ...) -> None: ...

class RestoreBlockVersionResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _memory_pb2.Block
    def __init__(self, block: _Optional[_Union[_memory_pb2.Block, _Mapping]] = ...) -> None: ...

class CreateArchiveRequest(_message.Message):
    __slots__ = ("name", "embedder", "dimension", "agent_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMBEDDER_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    embedder: str
    dimension: int
    agent_id: str
    def __init__(self, name: _Optional[str] = ..., embedder: _Optional[str] = ..., dimension: _Optional[int] = ..., agent_id: _Optional[str] = ...) -> None: ...

class CreateArchiveResponse(_message.Message):
    __slots__ = ("archive",)
    ARCHIVE_FIELD_NUMBER: _ClassVar[int]
    archive: _memory_pb2.Archive
    def __init__(self, archive: _Optional[_Union[_memory_pb2.Archive, _Mapping]] = ...) -> None: ...

class GetArchiveRequest(_message.Message):
    __slots__ = ("archive_id",)
    ARCHIVE_ID_FIELD_NUMBER: _ClassVar[int]
    archive_id: str
    def __init__(self, archive_id: _Optional[str] = ...) -> None: ...

class GetArchiveResponse(_message.Message):
    __slots__ = ("archive",)
    ARCHIVE_FIELD_NUMBER: _ClassVar[int]
    archive: _memory_pb2.Archive
    def __init__(self, archive: _Optional[_Union[_memory_pb2.Archive, _Mapping]] = ...) -> None: ...

class ListArchivesRequest(_message.Message):
    __slots__ = ("agent_id", "page_size", "page_token")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    page_size: int
    page_token: str
    def __init__(self, agent_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListArchivesResponse(_message.Message):
    __slots__ = ("archives", "next_page_token")
    ARCHIVES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    archives: _containers.RepeatedCompositeFieldContainer[_memory_pb2.Archive]
    next_page_token: str
    def __init__(self, archives: _Optional[_Iterable[_Union[_memory_pb2.Archive, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteArchiveRequest(_message.Message):
    __slots__ = ("archive_id",)
    ARCHIVE_ID_FIELD_NUMBER: _ClassVar[int]
    archive_id: str
    def __init__(self, archive_id: _Optional[str] = ...) -> None: ...

class DeleteArchiveResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AttachArchiveRequest(_message.Message):
    __slots__ = ("archive_id", "agent_id")
    ARCHIVE_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    archive_id: str
    agent_id: str
    def __init__(self, archive_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class AttachArchiveResponse(_message.Message):
    __slots__ = ("archive",)
    ARCHIVE_FIELD_NUMBER: _ClassVar[int]
    archive: _memory_pb2.Archive
    def __init__(self, archive: _Optional[_Union[_memory_pb2.Archive, _Mapping]] = ...) -> None: ...

class DetachArchiveRequest(_message.Message):
    __slots__ = ("archive_id", "agent_id")
    ARCHIVE_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    archive_id: str
    agent_id: str
    def __init__(self, archive_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class DetachArchiveResponse(_message.Message):
    __slots__ = ("archive",)
    ARCHIVE_FIELD_NUMBER: _ClassVar[int]
    archive: _memory_pb2.Archive
    def __init__(self, archive: _Optional[_Union[_memory_pb2.Archive, _Mapping]] = ...) -> None: ...

class InsertPassagesRequest(_message.Message):
    __slots__ = ("archive_id", "passages", "agent_id", "epoch", "idempotency_key")
    ARCHIVE_ID_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    archive_id: str
    passages: _containers.RepeatedCompositeFieldContainer[_memory_pb2.PassageInput]
    agent_id: str
    epoch: int
    idempotency_key: str
    def __init__(self, archive_id: _Optional[str] = ..., passages: _Optional[_Iterable[_Union[_memory_pb2.PassageInput, _Mapping]]] = ..., agent_id: _Optional[str] = ..., epoch: _Optional[int] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class InsertPassagesResponse(_message.Message):
    __slots__ = ("passage_ids",)
    PASSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    passage_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, passage_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListPassagesRequest(_message.Message):
    __slots__ = ("archive_id", "page_size", "page_token", "tags", "tag_match")
    ARCHIVE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    TAG_MATCH_FIELD_NUMBER: _ClassVar[int]
    archive_id: str
    page_size: int
    page_token: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    tag_match: _common_pb2.TagMatch
    def __init__(self, archive_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., tag_match: _Optional[_Union[_common_pb2.TagMatch, str]] = ...) -> None: ...

class ListPassagesResponse(_message.Message):
    __slots__ = ("passages", "next_page_token")
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    passages: _containers.RepeatedCompositeFieldContainer[_memory_pb2.Passage]
    next_page_token: str
    def __init__(self, passages: _Optional[_Iterable[_Union[_memory_pb2.Passage, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeletePassageRequest(_message.Message):
    __slots__ = ("passage_id",)
    PASSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    passage_id: str
    def __init__(self, passage_id: _Optional[str] = ...) -> None: ...

class DeletePassageResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SearchPassagesRequest(_message.Message):
    __slots__ = ("archive_id", "agent_id", "query", "mode", "tags", "tag_match", "start_time", "end_time", "page_size", "page_token")
    ARCHIVE_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    TAG_MATCH_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    archive_id: str
    agent_id: str
    query: str
    mode: _memory_pb2.SearchMode
    tags: _containers.RepeatedScalarFieldContainer[str]
    tag_match: _common_pb2.TagMatch
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, archive_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., query: _Optional[str] = ..., mode: _Optional[_Union[_memory_pb2.SearchMode, str]] = ..., tags: _Optional[_Iterable[str]] = ..., tag_match: _Optional[_Union[_common_pb2.TagMatch, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchPassagesResponse(_message.Message):
    __slots__ = ("results", "next_page_token")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_memory_pb2.ScoredPassage]
    next_page_token: str
    def __init__(self, results: _Optional[_Iterable[_Union[_memory_pb2.ScoredPassage, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListMessagesRequest(_message.Message):
    __slots__ = ("agent_id", "page_size", "page_token", "descending", "roles", "after_seq", "before_seq")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DESCENDING_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    BEFORE_SEQ_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    page_size: int
    page_token: str
    descending: bool
    roles: _containers.RepeatedScalarFieldContainer[_common_pb2.MessageRole]
    after_seq: int
    before_seq: int
    def __init__(self, agent_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., descending: _Optional[bool] = ..., roles: _Optional[_Iterable[_Union[_common_pb2.MessageRole, str]]] = ..., after_seq: _Optional[int] = ..., before_seq: _Optional[int] = ...) -> None: ...

class ListMessagesResponse(_message.Message):
    __slots__ = ("messages", "next_page_token")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.Message]
    next_page_token: str
    def __init__(self, messages: _Optional[_Iterable[_Union[_common_pb2.Message, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SearchMessagesRequest(_message.Message):
    __slots__ = ("agent_id", "query", "roles", "start_time", "end_time", "page_size", "page_token")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    query: str
    roles: _containers.RepeatedScalarFieldContainer[_common_pb2.MessageRole]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, agent_id: _Optional[str] = ..., query: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[_common_pb2.MessageRole, str]]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchMessagesResponse(_message.Message):
    __slots__ = ("results", "next_page_token")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_memory_pb2.ScoredMessage]
    next_page_token: str
    def __init__(self, results: _Optional[_Iterable[_Union[_memory_pb2.ScoredMessage, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CountMessagesRequest(_message.Message):
    __slots__ = ("agent_id", "roles")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    roles: _containers.RepeatedScalarFieldContainer[_common_pb2.MessageRole]
    def __init__(self, agent_id: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[_common_pb2.MessageRole, str]]] = ...) -> None: ...

class CountMessagesResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class GetContextRequest(_message.Message):
    __slots__ = ("agent_id", "max_messages", "epoch")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    max_messages: int
    epoch: int
    def __init__(self, agent_id: _Optional[str] = ..., max_messages: _Optional[int] = ..., epoch: _Optional[int] = ...) -> None: ...

class GetContextResponse(_message.Message):
    __slots__ = ("compiled_memory", "blocks", "stats", "summary", "messages", "boundary_seq", "epoch")
    COMPILED_MEMORY_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    BOUNDARY_SEQ_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    compiled_memory: str
    blocks: _containers.RepeatedCompositeFieldContainer[_memory_pb2.Block]
    stats: _memory_pb2.MemoryStats
    summary: str
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.Message]
    boundary_seq: int
    epoch: int
    def __init__(self, compiled_memory: _Optional[str] = ..., blocks: _Optional[_Iterable[_Union[_memory_pb2.Block, _Mapping]]] = ..., stats: _Optional[_Union[_memory_pb2.MemoryStats, _Mapping]] = ..., summary: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_common_pb2.Message, _Mapping]]] = ..., boundary_seq: _Optional[int] = ..., epoch: _Optional[int] = ...) -> None: ...

class AppendMessagesRequest(_message.Message):
    __slots__ = ("agent_id", "epoch", "run_id", "idempotency_key", "messages", "return_context", "context_max_messages")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    RETURN_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_MAX_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    epoch: int
    run_id: str
    idempotency_key: str
    messages: _containers.RepeatedCompositeFieldContainer[_memory_pb2.MessageInput]
    return_context: bool
    context_max_messages: int
    def __init__(self, agent_id: _Optional[str] = ..., epoch: _Optional[int] = ..., run_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_memory_pb2.MessageInput, _Mapping]]] = ..., return_context: _Optional[bool] = ..., context_max_messages: _Optional[int] = ...) -> None: ...

class AppendMessagesResponse(_message.Message):
    __slots__ = ("messages", "deduplicated", "context")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.Message]
    deduplicated: bool
    context: GetContextResponse
    def __init__(self, messages: _Optional[_Iterable[_Union[_common_pb2.Message, _Mapping]]] = ..., deduplicated: _Optional[bool] = ..., context: _Optional[_Union[GetContextResponse, _Mapping]] = ...) -> None: ...

class SetEvictionBoundaryRequest(_message.Message):
    __slots__ = ("agent_id", "epoch", "boundary_seq", "summary")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    BOUNDARY_SEQ_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    epoch: int
    boundary_seq: int
    summary: str
    def __init__(self, agent_id: _Optional[str] = ..., epoch: _Optional[int] = ..., boundary_seq: _Optional[int] = ..., summary: _Optional[str] = ...) -> None: ...

class SetEvictionBoundaryResponse(_message.Message):
    __slots__ = ("boundary_seq",)
    BOUNDARY_SEQ_FIELD_NUMBER: _ClassVar[int]
    boundary_seq: int
    def __init__(self, boundary_seq: _Optional[int] = ...) -> None: ...

class InitializeAgentMemoryRequest(_message.Message):
    __slots__ = ("agent_id", "blocks", "create_archive", "archive_embedder")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    CREATE_ARCHIVE_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_EMBEDDER_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    blocks: _containers.RepeatedCompositeFieldContainer[_memory_pb2.Block]
    create_archive: bool
    archive_embedder: str
    def __init__(self, agent_id: _Optional[str] = ..., blocks: _Optional[_Iterable[_Union[_memory_pb2.Block, _Mapping]]] = ..., create_archive: _Optional[bool] = ..., archive_embedder: _Optional[str] = ...) -> None: ...

class InitializeAgentMemoryResponse(_message.Message):
    __slots__ = ("blocks", "archive_id")
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_ID_FIELD_NUMBER: _ClassVar[int]
    blocks: _containers.RepeatedCompositeFieldContainer[_memory_pb2.Block]
    archive_id: str
    def __init__(self, blocks: _Optional[_Iterable[_Union[_memory_pb2.Block, _Mapping]]] = ..., archive_id: _Optional[str] = ...) -> None: ...

class DeleteAgentMemoryRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class DeleteAgentMemoryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
