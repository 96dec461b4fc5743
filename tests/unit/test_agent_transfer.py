"""Export and import orchestration over in-memory stand-ins for the store, memory and tools: history
in ordered idempotent batches with the eviction boundary carried over, passages oldest first, tools
reused or renamed, and an import that fails half-way leaves no agent behind."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.agent.core.agent_file import FileMessage, FilePassage, FileTool, FileToolCall
from services.agent.core.agents import Agent, AgentSpec, InitialBlock, ModelCatalog, ModelChoice
from services.agent.core.lifecycle import AgentLifecycle, MemorySnapshot
from services.agent.core.tool_rules import RuleKind, ToolRule
from services.agent.core.transfer import AgentTransfer, _same_behaviour
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable

TENANT = "t-1"
LOOKUP = FileTool(name="lookup", source_code="def lookup(q: str) -> str:\n    return q\n")
MODELS = ModelCatalog(providers=("openai", "scripted"), default_provider="scripted", default_model="s")


class Store:
    def __init__(self):
        self.agents: dict[str, Agent] = {}

    async def create(self, tenant, spec, *, request_id=""):
        now = datetime.now(UTC)
        agent = Agent(**vars(spec), id=str(uuid.uuid4()), created_at=now, updated_at=now)
        self.agents[agent.id] = agent
        return agent

    async def get(self, tenant, agent_id):
        if agent_id not in self.agents:
            raise NotFound("agent", agent_id)
        return self.agents[agent_id]

    async def set_archive(self, tenant, agent_id, archive_id):
        self.agents[agent_id] = replace(self.agents[agent_id], archive_id=archive_id)
        return self.agents[agent_id]

    async def delete(self, tenant, agent_id):
        del self.agents[agent_id]


class Memory:
    def __init__(self):
        self.blocks: dict[str, tuple] = {}
        self.history: dict[str, list[FileMessage]] = {}
        self.appends: list[tuple[str, int]] = []
        self.boundary: dict[str, tuple[int, str]] = {}
        self.archives: dict[str, list[FilePassage]] = {}
        self.fail_inserts = False

    async def initialize(self, agent_id, blocks):
        self.blocks.setdefault(agent_id, tuple(blocks))
        self.history.setdefault(agent_id, [])
        self.archives.setdefault(f"archive-{agent_id}", [])
        return f"archive-{agent_id}"

    async def block_ids(self, agent_id):
        return tuple(f"{agent_id}/{b.label}" for b in self.blocks.get(agent_id, ()))

    async def forget(self, agent_id):
        self.blocks.pop(agent_id, None)
        self.history.pop(agent_id, None)
        self.archives.pop(f"archive-{agent_id}", None)

    async def snapshot(self, agent_id):
        history = self.history[agent_id]
        boundary, summary = self.boundary.get(agent_id, (0, ""))
        return MemorySnapshot(
            blocks=self.blocks[agent_id], summary=summary, boundary_seq=boundary, last_seq=len(history)
        )

    async def messages(self, agent_id, *, before_seq):
        history = [m for m in self.history[agent_id] if m.seq < before_seq]
        for start in range(0, len(history), 100):
            yield history[start : start + 100]

    async def passages(self, archive_id):
        newest_first = self.archives[archive_id][::-1]
        for start in range(0, len(newest_first), 100):
            yield newest_first[start : start + 100]

    async def append(self, agent_id, *, key, messages):
        history = self.history[agent_id]
        self.appends.append((key, len(messages)))
        first = len(history) + 1
        history.extend(replace(m, seq=first + i) for i, m in enumerate(messages))
        return list(range(first, first + len(messages)))

    async def set_boundary(self, agent_id, *, boundary_seq, summary):
        self.boundary[agent_id] = (boundary_seq, summary)

    async def insert_passages(self, archive_id, passages):
        if self.fail_inserts:
            raise Unavailable("the embedder is down")
        self.archives[archive_id].extend(passages)


class Tools:
    def __init__(self, *tools: FileTool):
        self.tools: dict[str, tuple[str, FileTool]] = {}
        for tool in tools:
            self.tools[tool.name] = (str(uuid.uuid4()), tool)

    def by_id(self, tool_id):
        for found_id, tool in self.tools.values():
            if found_id == tool_id:
                return tool
        raise NotFound("tool", tool_id)

    async def name_of(self, tool_id):
        return self.by_id(tool_id).name

    async def definition(self, tool_id):
        return self.by_id(tool_id)

    async def find(self, name):
        return self.tools.get(name)

    async def forget_secrets(self, agent_id):
        pass

    async def create(self, tool):
        self.tools[tool.name] = (str(uuid.uuid4()), tool)
        return self.tools[tool.name][0]


def transfer(store: Store, memory: Memory, tools: Tools, limit: int = 1 << 20) -> AgentTransfer:
    lifecycle = AgentLifecycle(store=store, memory=memory, tools=tools, models=MODELS)
    return AgentTransfer(
        store=store, lifecycle=lifecycle, memory=memory, tools=tools, models=MODELS, max_document_bytes=limit
    )


async def original(store: Store, memory: Memory, tools: Tools, messages: int = 1200) -> Agent:
    lifecycle = AgentLifecycle(store=store, memory=memory, tools=tools, models=MODELS)
    spec = AgentSpec(
        name="original",
        model=ModelChoice(provider="openai", model="gpt-x"),
        tool_ids=(tools.tools["lookup"][0],),
        tool_rules=(ToolRule(tool_name="lookup", kind=RuleKind.TERMINAL),),
    )
    agent = await lifecycle.create(TENANT, spec, [InitialBlock(label="human", value="Ann")])
    history = [FileMessage(role="user", content=f"message {i}") for i in range(messages - 2)]
    history += [
        FileMessage(role="assistant", tool_calls=(FileToolCall(id="c1", name="lookup", arguments="{}"),)),
        FileMessage(role="tool", content="done", tool_call_id="c1"),
    ]
    await memory.append(agent.id, key="k", messages=history)
    await memory.set_boundary(agent.id, boundary_seq=700, summary="The first 700 messages.")
    await memory.insert_passages(agent.archive_id, [FilePassage(text=f"passage {i}") for i in range(250)])
    memory.appends.clear()
    return agent


async def test_import_restores_history_in_ordered_batches_and_the_boundary_and_passages():
    store, memory, tools = Store(), Memory(), Tools(LOOKUP)
    agent = await original(store, memory, tools)
    moves = transfer(store, memory, tools)

    copy = await moves.import_agent(
        TENANT, await moves.export_agent(TENANT, agent.id, messages=True, passages=True)
    )

    assert memory.appends == [("import:0", 500), ("import:1", 500), ("import:2", 200)]
    assert without_numbers(memory.history[copy.id]) == without_numbers(memory.history[agent.id])
    assert memory.boundary[copy.id] == (700, "The first 700 messages.")
    assert memory.archives[copy.archive_id] == memory.archives[agent.archive_id]
    assert memory.blocks[copy.id] == memory.blocks[agent.id]
    assert (copy.tool_ids, copy.tool_rules) == (agent.tool_ids, agent.tool_rules)


def without_numbers(messages: list[FileMessage]) -> list[FileMessage]:
    return [replace(m, seq=0) for m in messages]


async def test_an_import_failing_half_way_leaves_no_agent_behind():
    store, memory, tools = Store(), Memory(), Tools(LOOKUP)
    agent = await original(store, memory, tools, messages=10)
    moves = transfer(store, memory, tools)
    document = await moves.export_agent(TENANT, agent.id, messages=True, passages=True)
    memory.fail_inserts = True

    with pytest.raises(Unavailable):
        await moves.import_agent(TENANT, document)

    assert list(store.agents) == [agent.id]
    assert list(memory.history) == [agent.id]


async def test_imported_tools_are_reused_created_or_renamed_and_rules_follow_the_new_name():
    store, memory, tools = Store(), Memory(), Tools(LOOKUP)
    agent = await original(store, memory, tools, messages=2)
    document = await transfer(store, memory, tools).export_agent(
        TENANT, agent.id, messages=False, passages=False
    )

    same = Tools(LOOKUP)
    reused = await transfer(store, memory, same).import_agent(TENANT, document)
    empty = Tools()
    created = await transfer(store, memory, empty).import_agent(TENANT, document)
    clashing = Tools(replace(LOOKUP, source_code="def lookup(q: str) -> str:\n    return ''\n"))
    renamed = await transfer(store, memory, clashing).import_agent(TENANT, document)
    again = await transfer(store, memory, clashing).import_agent(TENANT, document)

    assert reused.tool_ids == (same.tools["lookup"][0],)
    assert created.tool_ids == (empty.tools["lookup"][0],)
    assert renamed.tool_ids == again.tool_ids == (clashing.tools["lookup_2"][0],)
    assert clashing.tools["lookup_2"][1].source_code == LOOKUP.source_code
    assert renamed.tool_rules == (ToolRule(tool_name="lookup_2", kind=RuleKind.TERMINAL),)


async def test_an_export_larger_than_the_cap_stops_with_failed_precondition():
    store, memory, tools = Store(), Memory(), Tools(LOOKUP)
    agent = await original(store, memory, tools, messages=1000)
    moves = transfer(store, memory, tools, limit=20_000)

    small = await moves.export_agent(TENANT, agent.id, messages=False, passages=False)
    with pytest.raises(FailedPrecondition, match="larger than 20000 bytes"):
        await moves.export_agent(TENANT, agent.id, messages=True, passages=False)

    assert json.loads(small)["tools"][0]["name"] == "lookup"


async def test_an_export_of_an_agent_whose_tool_was_deleted_says_which():
    store, memory, tools = Store(), Memory(), Tools(LOOKUP)
    agent = await original(store, memory, tools, messages=2)
    tools.tools.clear()

    with pytest.raises(FailedPrecondition, match=agent.tool_ids[0]):
        await transfer(store, memory, tools).export_agent(TENANT, agent.id, messages=False, passages=False)


async def test_a_rule_naming_a_tool_the_document_lacks_is_refused_before_any_tool_is_made():
    store, memory, tools = Store(), Memory(), Tools(LOOKUP)
    agent = await original(store, memory, tools, messages=2)
    document = json.loads(
        await transfer(store, memory, tools).export_agent(TENANT, agent.id, messages=False, passages=False)
    )
    document["agent"]["tool_rules"].append({"tool_name": "ghost", "kind": "terminal"})
    empty = Tools()

    with pytest.raises(InvalidArgument) as caught:
        await transfer(store, memory, empty).import_agent(TENANT, json.dumps(document))

    assert [v.field for v in caught.value.violations] == ["document_json.agent.tool_rules[1].tool_name"]
    assert empty.tools == {}


def test_a_tool_is_reused_only_when_it_behaves_as_the_documents():
    wanted = FileTool(
        name="lookup",
        source_code="def lookup(): ...",
        requires_approval=True,
        json_schema={"name": "lookup", "parameters": {}},
    )
    renamed = replace(wanted, name="lookup_2", json_schema={"name": "lookup_2", "parameters": {}})

    assert _same_behaviour(renamed, wanted)
    assert not _same_behaviour(replace(renamed, requires_approval=False), wanted), "approval must stay"
    assert not _same_behaviour(replace(renamed, json_schema={"name": "x", "parameters": {"a": 1}}), wanted)
