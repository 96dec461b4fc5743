"""AgentService through the gateway, with real processes: agents with tools and tool rules, updates
by field mask, deletion with the agent's memory, export then import into the same and into another
tenant, and `agentsuite agents export|import` (DESIGN §2, §7, §11, §13)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import grpc
import pytest
from e2e_client import create_agent, user
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from services.common.call import TENANT_KEY
from services.common.status import from_rpc_error

LOOKUP = '''
def lookup(query: str) -> str:
    """Look a word up.

    Args:
        query: The word.
    """
    return query.upper()
'''
OTHER_LOOKUP = LOOKUP.replace("query.upper()", "query.lower()")
AGENTSUITE = [sys.executable, "-m", "services.cli.main"]


class Tenant:
    """A tenant of its own, with its API key (for the gateway) and name (for internal APIs)."""

    def __init__(self, name: str, key: str, gateway: grpc.aio.Channel):
        self.name = name
        self.auth = (("authorization", f"Bearer {key}"),)
        self.agents = agent_service_pb2_grpc.AgentServiceStub(gateway)
        self.memory = memory_service_pb2_grpc.MemoryServiceStub(gateway)
        self.tools = tools_service_pb2_grpc.ToolServiceStub(gateway)

    async def tool(self, source: str = LOOKUP, **fields) -> tools_pb2.Tool:
        request = tools_service_pb2.CreateToolRequest(tool=tools_pb2.Tool(source_code=source, **fields))
        return (await self.tools.CreateTool(request, metadata=self.auth)).tool

    async def create(self, **fields) -> agent_pb2.Agent:
        request = agent_service_pb2.CreateAgentRequest(
            agent=agent_pb2.Agent(
                name=fields.pop("name", "agent"),
                model=agent_pb2.ModelConfig(provider="openai", model=fields.pop("model", "m")),
                **fields,
            )
        )
        return (await self.agents.CreateAgent(request, metadata=self.auth)).agent

    async def update(self, agent: agent_pb2.Agent, *paths: str) -> agent_pb2.Agent:
        request = agent_service_pb2.UpdateAgentRequest(
            agent=agent, update_mask=field_mask_pb2.FieldMask(paths=paths)
        )
        return (await self.agents.UpdateAgent(request, metadata=self.auth)).agent

    async def export(self, agent_id: str, *, everything: bool = True) -> str:
        request = agent_service_pb2.ExportAgentRequest(
            agent_id=agent_id, include_messages=everything, include_passages=everything
        )
        return (await self.agents.ExportAgent(request, metadata=self.auth)).document_json

    async def import_(self, document: str, name: str = "") -> agent_pb2.Agent:
        request = agent_service_pb2.ImportAgentRequest(document_json=document, name_override=name)
        return (await self.agents.ImportAgent(request, metadata=self.auth)).agent

    async def messages(self, agent_id: str) -> list[common_pb2.Message]:
        request = memory_service_pb2.ListMessagesRequest(agent_id=agent_id, page_size=1000)
        return list((await self.memory.ListMessages(request, metadata=self.auth)).messages)

    async def blocks(self, agent_id: str) -> list[memory_pb2.Block]:
        request = memory_service_pb2.ListBlocksRequest(agent_id=agent_id)
        return list((await self.memory.ListBlocks(request, metadata=self.auth)).blocks)

    async def passages(self, archive_id: str) -> list[memory_pb2.Passage]:
        request = memory_service_pb2.ListPassagesRequest(archive_id=archive_id, page_size=1000)
        return list((await self.memory.ListPassages(request, metadata=self.auth)).passages)


@pytest.fixture
async def me(running_suite, gateway) -> Tenant:
    return await new_tenant(running_suite, gateway)


async def new_tenant(running_suite, gateway) -> Tenant:
    name = f"t-{uuid.uuid4().hex[:12]}"
    return Tenant(name, await running_suite.new_key(name), gateway)


def rule(tool_name: str, **kind) -> agent_pb2.ToolRule:
    return agent_pb2.ToolRule(tool_name=tool_name, **kind)


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    bad_request = error_details_pb2.BadRequest()
    for detail in rpc_status.from_call(error).details:
        if detail.Unpack(bad_request):
            return {v.field: v.description for v in bad_request.field_violations}
    return {}


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


# --- tools and rules ---------------------------------------------------------------------------


async def test_an_agent_keeps_its_tools_and_rules_and_gets_an_archive_once(me):
    tool = await me.tool()
    rules = [
        rule("lookup", allowed_children=agent_pb2.AllowedChildrenRule(children=["archival_memory_search"])),
        rule("archival_memory_search", terminal=agent_pb2.TerminalRule()),
        rule("lookup", max_calls=agent_pb2.MaxCallsRule(max_calls=2)),
    ]
    request = agent_service_pb2.CreateAgentRequest(
        agent=agent_pb2.Agent(
            name="with tools",
            model=agent_pb2.ModelConfig(provider="openai", model="m"),
            tool_ids=[tool.id.upper()],
            tool_rules=rules,
        ),
        request_id=f"req-{uuid.uuid4()}",
    )

    agent = (await me.agents.CreateAgent(request, metadata=me.auth)).agent
    again = (await me.agents.CreateAgent(request, metadata=me.auth)).agent
    fetched = (
        await me.agents.GetAgent(agent_service_pb2.GetAgentRequest(agent_id=agent.id), metadata=me.auth)
    ).agent

    assert list(agent.tool_ids) == [tool.id]
    assert list(fetched.tool_rules) == rules
    assert agent.archive_id and again == agent and fetched.archive_id == agent.archive_id
    archives = await me.memory.ListArchives(
        memory_service_pb2.ListArchivesRequest(agent_id=agent.id), metadata=me.auth
    )
    assert [a.id for a in archives.archives] == [agent.archive_id]


async def test_an_unknown_tool_is_not_found_naming_it(me):
    missing = str(uuid.uuid4())

    error = await refused(me.create(tool_ids=[missing]))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert missing in error.details()


async def test_a_rule_naming_a_tool_the_agent_lacks_is_invalid_argument(me):
    error = await refused(
        me.create(
            tool_rules=[
                rule("archival_memory_search", terminal=agent_pb2.TerminalRule()),
                rule("nowhere", run_first=agent_pb2.RunFirstRule()),
            ]
        )
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(error)) == {"agent.tool_rules[1].tool_name"}


async def test_a_tool_named_like_a_built_in_one_cannot_be_attached(me):
    clash = await me.tool(LOOKUP, name="conversation_search")

    error = await refused(me.create(tool_ids=[clash.id]))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "built-in" in violations(error)["agent.tool_ids[0]"]


# --- update --------------------------------------------------------------------------------------


async def test_update_changes_only_the_masked_fields(me):
    agent = await me.create(name="first", system_prompt="old", tags=["a"], description="d")

    updated = await me.update(
        agent_pb2.Agent(id=agent.id, system_prompt="new", model=agent_pb2.ModelConfig(temperature=0.5)),
        "system_prompt",
        "model.temperature",
    )

    assert (updated.name, updated.system_prompt, list(updated.tags), updated.description) == (
        "first",
        "new",
        ["a"],
        "d",
    )
    assert (updated.model.model, updated.model.temperature) == ("m", 0.5)
    assert updated.update_time.ToDatetime() > agent.update_time.ToDatetime()
    assert updated.archive_id == agent.archive_id


async def test_an_empty_mask_replaces_every_writable_field(me):
    agent = await me.create(name="first", system_prompt="old", tags=["a"])

    updated = await me.update(
        agent_pb2.Agent(id=agent.id, name="second", model=agent_pb2.ModelConfig(provider="openai", model="n"))
    )

    assert (updated.name, updated.system_prompt, list(updated.tags), updated.model.model) == (
        "second",
        "",
        [],
        "n",
    )


@pytest.mark.parametrize("path", ["archive_id", "create_time", "id", "colour", "model.colour"])
async def test_an_output_only_or_unknown_mask_path_is_invalid_argument(me, path):
    agent = await me.create()

    error = await refused(me.update(agent_pb2.Agent(id=agent.id, name="x"), path))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert path in violations(error)["update_mask"]


async def test_update_of_tools_checks_them_like_create(me):
    tool = await me.tool()
    agent = await me.create(
        tool_ids=[tool.id], tool_rules=[rule("lookup", terminal=agent_pb2.TerminalRule())]
    )

    missing = await refused(me.update(agent_pb2.Agent(id=agent.id, tool_ids=[str(uuid.uuid4())]), "tool_ids"))
    detached = await refused(me.update(agent_pb2.Agent(id=agent.id), "tool_ids"))
    bad_rule = await refused(
        me.update(agent_pb2.Agent(id=agent.id, tool_rules=[rule("gone", terminal={})]), "tool_rules")
    )
    updated = await me.update(agent_pb2.Agent(id=agent.id), "tool_ids", "tool_rules")

    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert set(violations(detached)) == {"agent.tool_rules[0].tool_name"}
    assert set(violations(bad_rule)) == {"agent.tool_rules[0].tool_name"}
    assert (list(updated.tool_ids), list(updated.tool_rules)) == ([], [])


# --- delete and tenancy ------------------------------------------------------------------------


async def test_a_deleted_agent_and_its_memory_are_gone(me, gateway, running_suite):
    agent = await create_agent(
        gateway, me.auth, "m", blocks=(agent_pb2.BlockSpec(label="human", value="Ann"),)
    )
    running_suite.llm.script(agent.model.model, [{"content": "hi"}])
    await gateway_service_pb2_grpc.ConversationServiceStub(gateway).SendMessage(
        gateway_service_pb2.SendMessageRequest(agent_id=agent.id, messages=[user("hello")]), metadata=me.auth
    )
    [block] = await me.blocks(agent.id)
    await me.tools.SetSecret(
        tools_service_pb2.SetSecretRequest(name="TOKEN", value="s3cret", agent_id=agent.id), metadata=me.auth
    )

    await me.agents.DeleteAgent(agent_service_pb2.DeleteAgentRequest(agent_id=agent.id), metadata=me.auth)

    secrets = await me.tools.ListSecrets(
        tools_service_pb2.ListSecretsRequest(agent_id=agent.id), metadata=me.auth
    )
    assert list(secrets.secrets) == [], "the agent's own tool secrets go with it"

    get = me.agents.GetAgent(agent_service_pb2.GetAgentRequest(agent_id=agent.id), metadata=me.auth)
    again = me.agents.DeleteAgent(agent_service_pb2.DeleteAgentRequest(agent_id=agent.id), metadata=me.auth)
    for call in (
        get,
        again,
        me.messages(agent.id),
        me.blocks(agent.id),
        me.memory.GetBlock(memory_service_pb2.GetBlockRequest(block_id=block.id), metadata=me.auth),
        me.memory.GetArchive(
            memory_service_pb2.GetArchiveRequest(archive_id=agent.archive_id), metadata=me.auth
        ),
    ):
        assert (await refused(call)).code() == grpc.StatusCode.NOT_FOUND


async def test_another_tenants_agent_is_not_found_for_update_delete_and_export(me, running_suite, gateway):
    agent = await me.create()
    intruder = await new_tenant(running_suite, gateway)

    for call in (
        intruder.update(agent_pb2.Agent(id=agent.id, name="mine"), "name"),
        intruder.agents.DeleteAgent(
            agent_service_pb2.DeleteAgentRequest(agent_id=agent.id), metadata=intruder.auth
        ),
        intruder.export(agent.id),
    ):
        assert (await refused(call)).code() == grpc.StatusCode.NOT_FOUND
    assert (
        await me.agents.GetAgent(agent_service_pb2.GetAgentRequest(agent_id=agent.id), metadata=me.auth)
    ).agent.name == "agent"


# --- export and import -------------------------------------------------------------------------


async def agent_with_history(me: Tenant, running_suite) -> agent_pb2.Agent:
    """An agent with blocks, a tool and rules, a history with a tool call, its result and a
    summary over the first messages, and passages with tags, metadata and times."""
    tool = await me.tool()
    model = f"m-{uuid.uuid4().hex}"
    request = agent_service_pb2.CreateAgentRequest(
        agent=agent_pb2.Agent(
            name="original",
            system_prompt="You are terse.",
            model=agent_pb2.ModelConfig(provider="openai", model=model, temperature=0.3),
            tool_ids=[tool.id],
            tool_rules=[rule("lookup", max_calls=agent_pb2.MaxCallsRule(max_calls=3))],
            tags=["export"],
            max_steps=7,
        ),
        memory_blocks=[
            agent_pb2.BlockSpec(label="human", value="Name: Ann", limit=100, description="who"),
            agent_pb2.BlockSpec(label="persona", value="A terse helper.", read_only=True),
        ],
    )
    agent = (await me.agents.CreateAgent(request, metadata=me.auth)).agent
    messages = [
        memory_pb2.MessageInput(role=common_pb2.MESSAGE_ROLE_USER, content="look up kiwi", step=1),
        memory_pb2.MessageInput(
            role=common_pb2.MESSAGE_ROLE_ASSISTANT,
            reasoning="I should look it up.",
            tool_calls=[common_pb2.ToolCall(id="call-1", name="lookup", arguments_json='{"query": "kiwi"}')],
            step=1,
        ),
        memory_pb2.MessageInput(
            role=common_pb2.MESSAGE_ROLE_TOOL, content='"KIWI"', tool_call_id="call-1", name="lookup", step=2
        ),
        memory_pb2.MessageInput(role=common_pb2.MESSAGE_ROLE_ASSISTANT, content="KIWI.", step=2),
        *(
            memory_pb2.MessageInput(role=common_pb2.MESSAGE_ROLE_USER, content=f"note {i}", metadata={"i": i})
            for i in range(5)
        ),
    ]
    async with grpc.aio.insecure_channel(running_suite.backend_address("memory")) as channel:
        runtime = memory_service_pb2_grpc.MemoryRuntimeStub(channel)
        internal = ((TENANT_KEY, me.name),)
        await runtime.AppendMessages(
            memory_service_pb2.AppendMessagesRequest(agent_id=agent.id, messages=messages, run_id="r1"),
            metadata=internal,
        )
        await runtime.SetEvictionBoundary(
            memory_service_pb2.SetEvictionBoundaryRequest(
                agent_id=agent.id, boundary_seq=4, summary="Ann looked up kiwi."
            ),
            metadata=internal,
        )
    when = timestamp_pb2.Timestamp()
    when.FromDatetime(datetime(2024, 3, 1, 12, tzinfo=UTC))
    await me.memory.InsertPassages(
        memory_service_pb2.InsertPassagesRequest(
            archive_id=agent.archive_id,
            passages=[
                memory_pb2.PassageInput(
                    text="Ann's cat is called Pixel",
                    tags=["cats"],
                    metadata={"src": "chat"},
                    create_time=when,
                ),
                *(memory_pb2.PassageInput(text=f"harbour log entry {i}") for i in range(30)),
            ],
        ),
        metadata=me.auth,
    )
    return agent


def comparable_messages(messages) -> list[tuple]:
    return [
        (
            m.seq,
            m.role,
            m.content,
            m.reasoning,
            list(m.tool_calls),
            m.tool_call_id,
            m.name,
            m.step,
            m.metadata,
            m.create_time.ToMicroseconds(),  # an import keeps the history's times
        )
        for m in messages
    ]


def comparable_passages(passages) -> list[tuple]:
    return sorted((p.text, list(p.tags), p.metadata, p.create_time.ToSeconds()) for p in passages)


def comparable_blocks(blocks) -> list[tuple]:
    return [(b.label, b.value, b.limit, b.read_only, b.description) for b in blocks]


async def test_export_then_import_makes_a_new_agent_with_the_same_memory(me, running_suite, gateway):
    original = await agent_with_history(me, running_suite)

    document = await me.export(original.id)
    copy = await me.import_(document, name="copy")

    assert json.loads(document)["format"] == "agentsuite.agent"
    assert copy.id != original.id and copy.archive_id and copy.archive_id != original.archive_id
    assert copy.name == "copy"
    assert list(copy.tool_ids) == list(original.tool_ids)  # the same tool, reused: same source
    assert list(copy.tool_rules) == list(original.tool_rules)
    assert (copy.system_prompt, copy.model, list(copy.tags), copy.max_steps) == (
        original.system_prompt,
        original.model,
        list(original.tags),
        original.max_steps,
    )
    original_blocks, copied_blocks = await me.blocks(original.id), await me.blocks(copy.id)
    assert comparable_blocks(copied_blocks) == comparable_blocks(original_blocks)
    assert {b.id for b in copied_blocks}.isdisjoint(b.id for b in original_blocks)
    original_messages, copied_messages = await me.messages(original.id), await me.messages(copy.id)
    assert len(copied_messages) == 9
    assert comparable_messages(copied_messages) == comparable_messages(original_messages)
    assert {m.id for m in copied_messages}.isdisjoint(m.id for m in original_messages)
    assert comparable_passages(await me.passages(copy.archive_id)) == comparable_passages(
        await me.passages(original.archive_id)
    )
    found = await me.memory.SearchPassages(
        memory_service_pb2.SearchPassagesRequest(agent_id=copy.id, query="what is the cat called"),
        metadata=me.auth,
    )
    assert found.results[0].passage.text == "Ann's cat is called Pixel"

    # The copy answers from the same memory: its blocks and the summary are in its prompt, the
    # messages after the eviction boundary follow.
    running_suite.llm.script(copy.model.model, [{"content": "Pixel."}])
    await gateway_service_pb2_grpc.ConversationServiceStub(gateway).SendMessage(
        gateway_service_pb2.SendMessageRequest(agent_id=copy.id, messages=[user("cat?")]), metadata=me.auth
    )
    prompt = running_suite.llm.requests(copy.model.model)[-1]["messages"]
    assert "Name: Ann" in prompt[0]["content"] and "Ann looked up kiwi." in json.dumps(prompt)
    assert "look up kiwi" not in json.dumps(prompt)  # evicted: only in the summary
    assert "note 4" in json.dumps(prompt)


async def test_import_into_another_tenant_creates_the_tools_and_renames_a_clashing_one(
    me, running_suite, gateway
):
    original = await agent_with_history(me, running_suite)
    document = await me.export(original.id, everything=False)
    elsewhere = await new_tenant(running_suite, gateway)
    await elsewhere.tool(OTHER_LOOKUP)  # "lookup" there is another function

    copy = await elsewhere.import_(document)
    again = await elsewhere.import_(document)

    [tool_id] = copy.tool_ids
    tool = (
        await elsewhere.tools.GetTool(
            tools_service_pb2.GetToolRequest(tool_id=tool_id), metadata=elsewhere.auth
        )
    ).tool
    assert (tool.name, tool.source_code) == ("lookup_2", LOOKUP)
    assert [r.tool_name for r in copy.tool_rules] == ["lookup_2"]
    assert list(again.tool_ids) == [tool_id]  # the renamed tool is reused
    assert copy.name == "original"
    assert await elsewhere.messages(copy.id) == []
    assert await elsewhere.passages(copy.archive_id) == []
    assert comparable_blocks(await elsewhere.blocks(copy.id)) == comparable_blocks(
        await me.blocks(original.id)
    )


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ("not json", "document_json"),
        ('{"format": "letta", "version": 1}', "document_json.format"),
        ('{"format": "agentsuite.agent", "version": 9}', "document_json.version"),
        (
            {"messages": [{"role": "robot"}], "passages": [{"text": ""}]},
            "document_json.messages[0].role",
        ),
        ({"messages": [{"role": "tool", "tool_call_id": "c9"}]}, "document_json.messages[0].tool_call_id"),
        ({"agent": {"name": "", "model": {"provider": "nope"}}}, "document_json.agent.name"),
        (
            {"agent": {"name": "x", "tool_rules": [{"tool_name": "ghost", "kind": "terminal"}]}},
            "document_json.agent.tool_rules[0].tool_name",
        ),
        (
            {"tools": [{"name": "broken", "source_code": "def broken(:"}]},
            "document_json.tools[0].source_code",
        ),
    ],
)
async def test_a_malformed_document_is_invalid_argument_naming_the_json_path(me, document, field):
    if isinstance(document, dict):
        document = json.dumps(
            {"format": "agentsuite.agent", "version": 1, "agent": {"name": "x"}, **document}
        )

    error = await refused(me.import_(document))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(error)
    listed = await me.agents.ListAgents(agent_service_pb2.ListAgentsRequest(), metadata=me.auth)
    assert list(listed.agents) == []


# --- the CLI -------------------------------------------------------------------------------------


async def cli(running_suite, key: str, *args: str) -> subprocess.CompletedProcess:
    command = [
        *AGENTSUITE,
        "agents",
        *args,
        "--endpoint",
        running_suite.address,
        "--key",
        key,
    ]
    return await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120)


async def test_the_cli_exports_an_agent_by_name_to_a_file_and_imports_it(running_suite, gateway, tmp_path):
    name = f"t-{uuid.uuid4().hex[:12]}"
    key = await running_suite.new_key(name)
    me = Tenant(name, key, gateway)
    original = await agent_with_history(me, running_suite)
    path = tmp_path / "original.json"

    exported = await cli(
        running_suite, key, "export", "original", "-o", str(path), "--messages", "--passages"
    )
    imported = await cli(running_suite, key, "import", str(path), "--name", "from-cli", "--json")
    listed = await cli(running_suite, key, "list")

    assert exported.returncode == 0, exported.stderr
    assert imported.returncode == 0, imported.stderr
    copy_id = json.loads(imported.stdout)["id"]
    assert len(json.loads(path.read_text())["messages"]) == 9
    row = next(line for line in listed.stdout.splitlines() if copy_id in line)
    assert row.split()[:3] == ["from-cli", copy_id, f"openai/{original.model.model}"]
    assert comparable_messages(await me.messages(copy_id)) == comparable_messages(
        await me.messages(original.id)
    )
    missing = await cli(running_suite, key, "export", "nobody")
    assert missing.returncode == 3 and "no agent" in missing.stderr


async def test_blocks_memory_refuses_leave_no_agent_behind(gateway, tenant):
    agents = agent_service_pb2_grpc.AgentServiceStub(gateway)
    name = f"refused-{uuid.uuid4().hex[:8]}"
    request = agent_service_pb2.CreateAgentRequest(
        agent=agent_pb2.Agent(name=name, model=agent_pb2.ModelConfig(provider="openai", model="m")),
        memory_blocks=[agent_pb2.BlockSpec(label="human", value="x" * 50, limit=10)],
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agents.CreateAgent(request, metadata=tenant)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (violation, *_) = from_rpc_error(caught.value).violations
    assert violation.field.startswith("memory_blocks[0]")
    listed = await agents.ListAgents(agent_service_pb2.ListAgentsRequest(name=name), metadata=tenant)
    assert list(listed.agents) == []


async def test_an_agent_names_the_blocks_memory_attached_to_it(gateway, tenant):
    agents = agent_service_pb2_grpc.AgentServiceStub(gateway)
    memory = memory_service_pb2_grpc.MemoryServiceStub(gateway)
    created = await create_agent(
        gateway,
        tenant,
        "m",
        blocks=(agent_pb2.BlockSpec(label="human"), agent_pb2.BlockSpec(label="persona")),
    )
    listed = await memory.ListBlocks(
        memory_service_pb2.ListBlocksRequest(agent_id=created.id), metadata=tenant
    )

    got = (
        await agents.GetAgent(agent_service_pb2.GetAgentRequest(agent_id=created.id), metadata=tenant)
    ).agent

    assert sorted(created.block_ids) == sorted(got.block_ids) == sorted(b.id for b in listed.blocks)
    assert len(got.block_ids) == 2
