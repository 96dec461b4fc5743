"""Fuzzing every public RPC through the gateway: hypothesis strategies that make requests of each
method from its descriptor (structurally valid random messages, and bytes broken in every way the
edge must refuse), and a client that sends one case and judges the answer.

Shared by ``tests/e2e/test_edge_fuzz.py`` (a fixed number of cases in the test run) and
``bench/fuzz.py`` (any number, on demand). A case is judged wrong when the answer is INTERNAL or
UNKNOWN, or when its status carries text from inside the services (a traceback, SQL, a Python
class name, the protobuf parser's message).
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import grpc
from google.protobuf import field_mask_pb2, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import strategies as st

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from services.common.paging import encode_token
from services.gateway.api.edge import INTERNAL_FIELDS

PUBLIC_SERVICES: tuple[ServiceDescriptor, ...] = (
    gateway_service_pb2.DESCRIPTOR.services_by_name["ConversationService"],
    agent_service_pb2.DESCRIPTOR.services_by_name["AgentService"],
    memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"],
    tools_service_pb2.DESCRIPTOR.services_by_name["ToolService"],
)
"""The services the gateway exposes; every method of each is fuzzed."""

WRONG_CODES = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
LEAKS = re.compile(
    r"Traceback|File \"|<class |Error parsing|DecodeError|\[SQL|\[parameters|sqlalchemy|asyncpg"
    r"|\bSELECT .* FROM\b|\bINSERT INTO\b|\bUPDATE \w+\.\w+ SET\b"
)

TOOL_SOURCE = '''
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b
'''
INT_EDGES = (0, 1, -1, 2, 7, 100, 1000, 2**31 - 1, -(2**31), 2**32, 2**53 + 1, 2**62, 2**63 - 1, -(2**63))
TIME_EDGES = (
    0,
    1,
    -1,
    1_700_000_000,
    253_402_300_799,
    253_402_300_800,
    -62_135_596_800,
    -62_135_596_801,
    2**62,
)
NANO_EDGES = (0, 1, -1, 999_999_999, 1_000_000_000, -(2**31))
MASK_PATHS = ("name", "value", "tags", "metadata", "model.temperature", "id", "label", "limit", "source_code")
TAME_TIMES = (-62_135_596_800, 0, 253_402_300_799)
TOKEN_KEYS = ("t", "id", "seq", "score", "before", "after", "offset", "name", "label", "x")
RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def public_methods() -> list[MethodDescriptor]:
    return [method for service in PUBLIC_SERVICES for method in service.methods]


def path_of(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


@dataclass
class Known:
    """Ids that exist in the fuzzing tenant, so random requests also reach past "not found"."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    """By kind: agent, tool, run, archive, block."""
    tags: list[str] = field(default_factory=lambda: ["fuzz", "a"])
    labels: list[str] = field(default_factory=lambda: ["human", "persona"])


async def known_ids(channel: grpc.aio.Channel, metadata: Sequence[tuple[str, str]]) -> Known:
    """Makes an agent with blocks, an archive and a run, and a tool: ids for the cases to aim at."""
    tools = tools_service_pb2_grpc.ToolServiceStub(channel)
    tool = (
        await tools.CreateTool(
            tools_service_pb2.CreateToolRequest(tool=tools_pb2.Tool(source_code=TOOL_SOURCE, tags=["fuzz"])),
            metadata=metadata,
        )
    ).tool
    agent = (
        await agent_service_pb2_grpc.AgentServiceStub(channel).CreateAgent(
            agent_service_pb2.CreateAgentRequest(
                memory_blocks=[
                    agent_pb2.BlockSpec(label="human", value="Ada"),
                    agent_pb2.BlockSpec(label="persona", value="terse"),
                ],
                agent=agent_pb2.Agent(
                    name="fuzz",
                    model=agent_pb2.ModelConfig(provider="openai", model=f"fuzz-{uuid.uuid4().hex[:8]}"),
                    tool_ids=[tool.id],
                    tags=["fuzz"],
                ),
            ),
            metadata=metadata,
        )
    ).agent
    run = (
        await gateway_service_pb2_grpc.ConversationServiceStub(channel).SendMessage(
            gateway_service_pb2.SendMessageRequest(
                agent_id=agent.id, messages=[common_pb2.InputMessage(content="hello")]
            ),
            metadata=metadata,
            timeout=30,
        )
    ).run
    memory = memory_service_pb2_grpc.MemoryServiceStub(channel)
    archives = await memory.ListArchives(
        memory_service_pb2.ListArchivesRequest(agent_id=agent.id), metadata=metadata
    )
    blocks = await memory.ListBlocks(
        memory_service_pb2.ListBlocksRequest(agent_id=agent.id), metadata=metadata
    )
    return Known(
        ids={
            "agent": [agent.id],
            "tool": [tool.id],
            "run": [run.id],
            "archive": [archives.archives[0].id],
            "block": [block.id for block in blocks.blocks],
        }
    )


# --- strategies -------------------------------------------------------------------------------------


PLAIN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 _-.", max_size=16)


def texts(tame: bool = False) -> st.SearchStrategy[str]:
    if tame:
        return st.one_of(st.sampled_from(["human", "persona", "hello world", "a"]), PLAIN)
    return st.one_of(
        st.sampled_from(
            ["", "a", "human", "persona", "hello world", " ", "-", "ünï©ødé ✓", "a\x00b", "\x00"]
        ),
        st.text(max_size=24),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=250, max_size=300),
        st.sampled_from(["x" * 5000, "y" * 1_000_001]),
    )


def ids(known: Known, name: str = "", tame: bool = False) -> st.SearchStrategy[str]:
    """Ids for a field called ``name``: most often one of the tenant's of that kind (``agent_id``:
    an agent's), else any of the tenant's, a random UUID, or (unless ``tame``) no id at all."""
    every = [value for values in known.ids.values() for value in values] or [str(uuid.uuid4())]
    same_kind = known.ids.get(name.removesuffix("_ids").removesuffix("_id").split("_")[-1]) or every
    existing = st.one_of(st.sampled_from(same_kind), st.sampled_from(same_kind), st.sampled_from(every))
    if tame:
        return st.one_of(existing, existing, st.uuids().map(str))
    return st.one_of(
        existing,
        st.uuids().map(str),
        st.sampled_from(["", "not-an-id", "0" * 36, str(uuid.UUID(int=0)), "\x00", "'; DROP TABLE x; --"]),
    )


def json_values(depth: int = 3) -> st.SearchStrategy:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0, 1.5, 2**53, 1e308]),
        st.text(max_size=12),
        st.sampled_from(["\x00", "a\x00"]),
    )
    if depth == 0:
        return scalars
    inner = json_values(depth - 1)
    return st.one_of(
        scalars, st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    )


def page_tokens() -> st.SearchStrategy[str]:
    position_values = st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from(INT_EDGES),
        st.floats(),
        st.text(max_size=12),
        st.uuids().map(str),
        st.sampled_from(["2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00", "0001-01-01T00:00:00+14:00"]),
        st.sampled_from(["9999-12-31T23:59:59-12:00", "human\x00" + str(uuid.uuid4()), "\x00"]),
    )
    positions = st.dictionaries(st.sampled_from(TOKEN_KEYS), position_values, max_size=3)
    return st.one_of(
        st.just(""),
        positions.map(encode_token),
        st.sampled_from(["!!!", "bm90IGpzb24", "e30", "W10", "\x00", "eyJzZXEiOiBOYU59"]),
        st.text(max_size=20),
    )


def json_texts() -> st.SearchStrategy[str]:
    return st.one_of(
        json_values(3).map(lambda value: json.dumps(value)),
        st.sampled_from(
            ["", "{", "{}", '{"a": 1, "b": 2}', '{"format": "agentsuite.agent", "version": 1}', "[]"]
        ),
        st.text(max_size=20),
    )


ODD_VALUES = (None, True, 0, -1, 2**31, 2**70, 1e300, float("nan"), "", "\x00", "user", "tool")
ODD_TIMES = (
    "2024-01-01T00:00:00+00:00",
    "2024-01-01T00:00:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00",
)


def _some(item: st.SearchStrategy) -> st.SearchStrategy[list]:
    return st.lists(item, max_size=3)


def _object(**fields: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """JSON objects with any of ``fields``."""
    return st.fixed_dictionaries({}, optional=fields)


def agent_documents() -> st.SearchStrategy[str]:
    """Agent documents (``ImportAgent``) of the right shape holding anything in any field."""
    value = st.one_of(PLAIN, st.sampled_from(ODD_VALUES + ODD_TIMES), json_values(1))
    model = _object(
        provider=st.sampled_from(["openai", "scripted", "x"]),
        model=PLAIN,
        context_window=value,
        temperature=value,
        max_output_tokens=value,
    )
    rule = _object(
        tool_name=st.sampled_from(["add", "core_memory_append", "x"]),
        kind=value,
        children=_some(value),
        max_calls=value,
    )
    agent = _object(
        name=st.one_of(PLAIN, value),
        system_prompt=value,
        model=model,
        tags=_some(value),
        metadata=st.dictionaries(PLAIN, value, max_size=2),
        max_steps=value,
        tool_rules=_some(rule),
    )
    block = _object(
        label=st.sampled_from(["human", "persona", "x y"]),
        value=value,
        limit=value,
        read_only=value,
        description=value,
        metadata=value,
    )
    tool = _object(
        name=st.sampled_from(["add", "f", "core_memory_append"]),
        source_code=st.sampled_from([TOOL_SOURCE, "x"]),
        json_schema=value,
        timeout_seconds=value,
        result_char_limit=value,
        tags=_some(value),
    )
    call = _object(id=value, name=st.sampled_from(["add", "x"]), arguments=value)
    message = _object(
        role=st.one_of(st.sampled_from(["user", "assistant", "tool", "system"]), value),
        content=value,
        reasoning=value,
        tool_calls=_some(call),
        tool_call_id=value,
        name=value,
        step=value,
        metadata=value,
        create_time=value,
    )
    passage = _object(text=st.one_of(PLAIN, value), tags=_some(value), metadata=value, create_time=value)
    document = st.fixed_dictionaries(
        {"format": st.just("agentsuite.agent"), "version": st.sampled_from([1, 1, 2])},
        optional={
            "agent": agent,
            "blocks": _some(block),
            "tools": _some(tool),
            "messages": _some(message),
            "context": _object(summary=value, evicted_messages=value),
            "passages": _some(passage),
        },
    )
    return document.map(json.dumps)


def string_field(candidate: FieldDescriptor, known: Known, tame: bool = False) -> st.SearchStrategy[str]:
    name = candidate.name
    if name == "id" or name.endswith(("_id", "_ids")):
        return ids(known, name, tame)
    if name == "page_token":
        return st.just("") if tame else page_tokens()
    if name == "source_code":
        return st.one_of(st.just(TOOL_SOURCE), texts(tame), st.just("def f(:\n"))
    if name == "document_json":
        return st.one_of(agent_documents(), agent_documents(), json_texts())
    if name.endswith("_json"):
        return json_texts()
    if name in ("tags", "tag"):
        return st.one_of(st.sampled_from(known.tags), texts(tame))
    if name == "label":
        return st.one_of(st.sampled_from(known.labels), texts(tame))
    if name == "paths":
        return st.one_of(st.sampled_from(MASK_PATHS), texts(tame))
    return texts(tame)


def scalar(candidate: FieldDescriptor, known: Known, tame: bool = False) -> st.SearchStrategy:
    kind = candidate.type
    if kind == FieldDescriptor.TYPE_STRING:
        return string_field(candidate, known, tame)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=32)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        if tame:
            return st.sampled_from([0.0, 0.5, 1.0])
        return st.one_of(
            st.floats(width=32 if kind == FieldDescriptor.TYPE_FLOAT else 64), st.sampled_from([0.0, 0.7])
        )
    if kind == FieldDescriptor.TYPE_ENUM:
        defined = st.sampled_from([v.number for v in candidate.enum_type.values])
        return defined if tame else st.one_of(defined, st.sampled_from([-1, 99]))
    low, high = RANGES[kind]
    if tame:
        return st.integers(min_value=max(low, 0), max_value=min(high, 20))
    return st.one_of(
        st.sampled_from([edge for edge in INT_EDGES if low <= edge <= high]),
        st.integers(min_value=max(low, -1000), max_value=min(high, 1000)),
    )


@st.composite
def messages(draw, descriptor: Descriptor, known: Known, depth: int = 0, tame: bool = False):
    """A random instance of ``descriptor`` (every field set or not, oneofs one member at most).

    ``tame`` ones hold only what the edge lets through (plain text, known ids, defined enum values,
    times in range), so they reach the handlers and the database; the others hold anything."""
    message = message_factory.GetMessageClass(descriptor)()
    well_known = _WELL_KNOWN.get(descriptor.full_name)
    if well_known is not None:
        well_known(draw, message, tame)
        return message
    chosen_oneof = {
        oneof.name: draw(st.sampled_from(list(oneof.fields) if tame else [None, *oneof.fields]))
        for oneof in descriptor.oneofs
        if oneof.fields
    }
    for candidate in descriptor.fields:
        oneof = candidate.containing_oneof
        if oneof is not None and chosen_oneof.get(oneof.name) is not candidate:
            continue
        if tame and candidate.name in INTERNAL_FIELDS.get(descriptor.full_name, ()):
            continue
        if oneof is None and not draw(st.integers(0, 9)) < (8 if tame else 5):
            continue
        _set_field(draw, message, candidate, known, depth, tame)
    return message


def _set_field(draw, message, candidate: FieldDescriptor, known: Known, depth: int, tame: bool) -> None:
    is_map = candidate.message_type is not None and candidate.message_type.GetOptions().map_entry
    if is_map:
        key_field = candidate.message_type.fields_by_name["key"]
        value_field = candidate.message_type.fields_by_name["value"]
        target = getattr(message, candidate.name)
        for _ in range(draw(st.integers(0, 2))):
            key = draw(scalar(key_field, known, tame))
            if value_field.message_type is None:
                target[key] = draw(scalar(value_field, known, tame))
            else:
                target[key].CopyFrom(draw(messages(value_field.message_type, known, depth + 1, tame)))
        return
    if candidate.message_type is not None:
        if depth >= 4:
            return
        nested = st.deferred(lambda: messages(candidate.message_type, known, depth + 1, tame))
        if candidate.is_repeated:
            getattr(message, candidate.name).extend(draw(st.lists(nested, max_size=3)))
        else:
            getattr(message, candidate.name).CopyFrom(draw(nested))
        return
    values = scalar(candidate, known, tame)
    if candidate.is_repeated:
        getattr(message, candidate.name).extend(draw(st.lists(values, max_size=3)))
    else:
        setattr(message, candidate.name, draw(values))


def _timestamp(draw, stamp, tame: bool) -> None:
    if tame:
        stamp.seconds = draw(
            st.one_of(st.integers(1_600_000_000, 1_900_000_000), st.sampled_from(TAME_TIMES))
        )
        return
    stamp.seconds = draw(st.one_of(st.sampled_from(TIME_EDGES), st.integers(-(2**40), 2**40)))
    stamp.nanos = draw(st.sampled_from(NANO_EDGES))


def _duration(draw, duration, tame: bool) -> None:
    if tame:
        duration.seconds = draw(st.integers(1, 400))
        return
    duration.seconds = draw(
        st.one_of(st.sampled_from((0, 1, 30, -5, 300, 301, 315_576_000_000, 2**62)), st.integers(0, 10))
    )
    duration.nanos = draw(st.sampled_from(NANO_EDGES))


def _struct(draw, struct, tame: bool) -> None:
    if tame:
        struct.update(draw(st.dictionaries(PLAIN, st.one_of(PLAIN, st.integers(-100, 100)), max_size=3)))
        return
    value = draw(st.dictionaries(st.text(max_size=8), json_values(3), max_size=4))
    try:
        struct.update(value)
    except ValueError:  # what Python's Struct itself refuses to hold
        struct.update({"k": "v"})


def _value(draw, value, tame: bool) -> None:
    _struct(draw, value.struct_value, tame)


def _field_mask(draw, mask, tame: bool) -> None:
    mask.paths.extend(draw(st.lists(string_field(_PATHS, Known(), tame), max_size=3)))


_WELL_KNOWN = {
    "google.protobuf.Timestamp": _timestamp,
    "google.protobuf.Duration": _duration,
    "google.protobuf.Struct": _struct,
    "google.protobuf.Value": _value,
    "google.protobuf.FieldMask": _field_mask,
}
_PATHS = field_mask_pb2.FieldMask.DESCRIPTOR.fields_by_name["paths"]


# --- bytes the edge must refuse -------------------------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def delimited(number: int, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes or message) as protobuf encodes it."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def with_bad_utf8(descriptor: Descriptor, depth: int = 0) -> bytes:
    """Bytes of ``descriptor`` whose first string field (at any depth) is not UTF-8; a corrupt
    field when it has none."""
    for candidate in descriptor.fields:
        if candidate.type == FieldDescriptor.TYPE_STRING:
            return delimited(candidate.number, b"ok \xc3\x28 \xff")
        if (
            candidate.message_type is not None
            and depth < 3
            and not candidate.message_type.GetOptions().map_entry
        ):
            inner = with_bad_utf8(candidate.message_type, depth + 1)
            if inner:
                return delimited(candidate.number, inner)
    return b"" if depth else b"\x0a\xff"


def too_deep(levels: int = 120) -> bytes:
    """An unknown field nested ``levels`` groups deep: past the parser's limit of 100."""
    return varint(1000 << 3 | 3) * levels + varint(1000 << 3 | 4) * levels


@st.composite
def payloads(draw, method: MethodDescriptor, known: Known) -> bytes:
    """One request of ``method`` as bytes: mostly a random message, else broken on purpose."""
    kind = draw(st.sampled_from(["tame"] * 5 + ["wild"] * 3 + ["raw", "truncated", "bad_utf8", "deep"]))
    if kind == "raw":
        return draw(st.binary(min_size=1, max_size=64))
    if kind == "bad_utf8":
        return with_bad_utf8(method.input_type)
    if kind == "deep":
        return too_deep()
    if method.name.startswith("Delete"):
        known = Known()  # deleting what the other cases aim at would leave them only "not found"
    data = draw(messages(method.input_type, known, tame=kind == "tame")).SerializeToString()
    if kind == "truncated" and len(data) > 1:
        return data[: draw(st.integers(1, len(data) - 1))]
    return data


@st.composite
def cases(draw, methods: Sequence[MethodDescriptor], known: Known) -> tuple[MethodDescriptor, list[bytes]]:
    """A method and what to send it: one request, or for Converse the stream of its messages (most
    often a good opening first, so what follows reaches the conversation)."""
    method = draw(st.sampled_from(methods))
    if not method.client_streaming:
        return method, [draw(payloads(method, known))]
    opening = gateway_service_pb2.ConverseRequest(
        open=gateway_service_pb2.ConverseOpen(agent_id=draw(ids(known, "agent_id", tame=True)))
    ).SerializeToString()
    rest = draw(st.lists(payloads(method, known), min_size=0, max_size=3))
    return method, [opening, *rest] if draw(st.booleans()) else rest or [opening]


# --- sending a case and judging the answer ---------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    method: str
    code: grpc.StatusCode
    text: str
    """The status message with every detail's text (what a client could read)."""

    def problems(self) -> list[str]:
        found = []
        if self.code in WRONG_CODES:
            found.append(f"{self.code.name}")
        if LEAKS.search(self.text):
            found.append(f"internal text in the status: {LEAKS.search(self.text).group(0)!r}")
        return found


class Fuzzer:
    """Sends cases through a synchronous channel to the gateway and counts the answers by code."""

    def __init__(self, channel: grpc.Channel, metadata: Sequence[tuple[str, str]], *, timeout: float = 10.0):
        self._channel = channel
        self._metadata = tuple(metadata)
        self._timeout = timeout
        self.counts: Counter[str] = Counter()
        self.by_method: dict[str, Counter[str]] = {}
        self.failures: list[tuple[Outcome, bytes]] = []

    def run(self, method: MethodDescriptor, requests: list[bytes]) -> Outcome:
        path = path_of(method)
        try:
            if method.client_streaming:
                for _ in self._channel.stream_stream(path)(
                    iter(requests), metadata=self._metadata, timeout=self._timeout
                ):
                    pass
            elif method.server_streaming:
                for _ in self._channel.unary_stream(path)(
                    requests[0], metadata=self._metadata, timeout=self._timeout
                ):
                    pass
            else:
                self._channel.unary_unary(path)(requests[0], metadata=self._metadata, timeout=self._timeout)
            outcome = Outcome(path, grpc.StatusCode.OK, "")
        except grpc.RpcError as error:
            outcome = Outcome(path, error.code(), _status_text(error))
        self.counts[outcome.code.name] += 1
        self.by_method.setdefault(method.name, Counter())[outcome.code.name] += 1
        if outcome.problems():
            self.failures.append((outcome, b"".join(requests)[:65536]))
        return outcome

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _status_text(error: grpc.RpcError) -> str:
    parts = [error.details() or ""]
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        status = None
    for detail in status.details if status is not None else ():
        bad_request, info = error_details_pb2.BadRequest(), error_details_pb2.ErrorInfo()
        if detail.Unpack(bad_request):
            parts += [f"{v.field}: {v.description}" for v in bad_request.field_violations]
        elif detail.Unpack(info):
            parts += [info.reason, *info.metadata.values()]
    return "\n".join(parts)


def not_serving(addresses: dict[str, str]) -> Iterator[str]:
    """The services among ``addresses`` (name -> host:port) that do not answer SERVING."""
    for name, address in addresses.items():
        with grpc.insecure_channel(address) as channel:
            try:
                status = (
                    health_pb2_grpc.HealthStub(channel)
                    .Check(health_pb2.HealthCheckRequest(), timeout=5)
                    .status
                )
            except grpc.RpcError as error:
                yield f"{name}: {error.code().name}"
                continue
            if status != health_pb2.HealthCheckResponse.SERVING:
                yield f"{name}: {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}"
