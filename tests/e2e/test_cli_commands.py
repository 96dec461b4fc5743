"""Every ``agentsuite`` command end to end against the real suite, in table and ``--json`` forms.

Grouped into a few scenarios that share the session's suite (each CLI call is a real process):
an agent with blocks and a tool, its memory edited and restored, the tool run with a secret it
reads; runs approved, denied, cancelled and watched after they ended; messages and archives
searched; keys; and the messages a user gets when the suite is down or the key is bad.
"""

from __future__ import annotations

import json
import textwrap
import uuid

import pytest
from cli_runner import Cli

from agentsuite.client import connect
from services.common.ports import free_port

WEATHER = textwrap.dedent(
    '''
    import os


    def lookup_weather(city: str, days: int = 1) -> dict:
        """Look up the weather of a city.

        Args:
            city: The city's name.
            days: How many days ahead.
        """
        return {"city": city, "forecast": "sunny", "key": os.environ.get("WEATHER_KEY", "none")}
    '''
)
DEPLOY = textwrap.dedent(
    '''
    def deploy(service: str) -> str:
        """Deploy a service to production.

        Args:
            service: Which service.
        """
        return f"deployed {service}"
    '''
)


def model_name() -> str:
    return f"m-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def cli(running_suite) -> Cli:
    return await Cli.for_new_tenant(running_suite)


async def test_agents_blocks_tools_and_secrets(cli, running_suite, tmp_path):
    model = model_name()
    (tmp_path / "weather.py").write_text(WEATHER)
    (tmp_path / "deploy.py").write_text(DEPLOY)

    # tools add (both forms), secrets set from stdin (never an argument)
    weather = await cli.json("tools", "add", str(tmp_path / "weather.py"), "--secret", "WEATHER_KEY")
    added = await cli.record("tools", "add", str(tmp_path / "deploy.py"), "--requires-approval")
    assert weather["name"] == "lookup_weather" and weather["secret_names"] == ["WEATHER_KEY"]
    assert added["name"] == "deploy" and added["requires approval"] == "yes"
    assert (await cli.json("secrets", "set", "WEATHER_KEY", input="sunny-key-123\n"))["name"] == "WEATHER_KEY"
    assert "set secret" in await cli.table("secrets", "set", "OTHER", input="x", headers=())
    assert "WEATHER_KEY" in await cli.table("secrets", "list", headers=("NAME", "AGENT"))
    assert {s["name"] for s in await cli.json("secrets", "list")} == {"WEATHER_KEY", "OTHER"}
    assert "sunny-key-123" not in await cli.table("secrets", "list", headers=("NAME",))

    # agents create: the default template's persona and human blocks, a block from a flag, a tool
    agent = await cli.json(
        "agents",
        "create",
        "helper",
        "--model",
        f"openai/{model}",
        "--block",
        "human=Ana, a nurse in Lisbon",
        "--tool",
        "lookup_weather",
        "--tag",
        "demo",
    )
    assert agent["tool_ids"] == [weather["id"]] and agent["tags"] == ["demo"]
    assert "memory" in agent["system_prompt"] and "core_memory_append" in agent["system_prompt"]
    spec = tmp_path / "scribe.yaml"
    spec.write_text(
        "name: the-file-name\nsystem_prompt: You write things down.\nblocks: {notes: nothing yet}\ntags: [docs]\n"
    )
    scribe = await cli.record("agents", "create", "scribe", "--from-file", str(spec))
    assert scribe["name"] == "scribe" and scribe["blocks"] == "notes" and scribe["tags"] == "docs"

    listed = await cli.table("agents", "list", headers=("NAME", "ID", "MODEL"))
    assert f"openai/{model}" in listed and "the suite's default" in listed
    assert [a["name"] for a in await cli.json("agents", "list", "--tag", "demo")] == ["helper"]
    shown = await cli.record("agents", "show", "helper")
    assert shown["tools"] == "lookup_weather" and shown["blocks"] == "human, persona"
    assert (await cli.json("agents", "show", agent["id"]))["name"] == "helper"
    updated = await cli.record("agents", "update", "helper", "--description", "helps", "--max-steps", "7")
    assert updated["description"] == "helps" and updated["max steps"] == "7"
    unpinned = await cli.json("agents", "update", "scribe", "--model", "default")
    assert "model" not in unpinned or not unpinned["model"].get("model")
    await cli.fails("agents", "show", "helpr", code=3, says="did you mean 'helper'")

    # blocks: list, show, edit three ways, the version check, history, restore
    assert "Ana, a nurse" in await cli.table(
        "blocks", "list", "helper", headers=("LABEL", "CHARS", "VERSION")
    )
    assert [b["label"] for b in await cli.json("blocks", "list", "helper")] == ["human", "persona"]
    human = await cli.json("blocks", "show", "helper", "human")
    assert (await cli.record("blocks", "show", "helper", "human"))["version"] == str(human["version"])
    appended = await cli.table(
        "blocks", "edit", "helper", "human", "--append", "Likes tea.", headers=("human: version",)
    )
    assert "+ Likes tea." in appended
    replaced = await cli.json("blocks", "edit", "helper", "human", "--replace", "tea", "coffee")
    assert replaced["value"] == "Ana, a nurse in Lisbon\nLikes coffee."
    stale = await cli.fails(
        "blocks",
        "edit",
        "helper",
        "human",
        "--value",
        "x",
        "--expected-version",
        "1",
        code=1,
        says="changed by someone else first",
    )
    assert "version 3" in stale
    history = await cli.table("blocks", "history", "helper", "human", headers=("VERSION", "WHEN", "CHANGE"))
    assert "+ Likes coffee." in history
    assert [e["version"] for e in await cli.json("blocks", "history", "helper", "human")] == ["3", "2", "1"]
    restored = await cli.table("blocks", "restore", "helper", "human", "1", headers=("human: version 3 → 4",))
    assert "- Likes coffee." in restored
    assert (await cli.json("blocks", "restore", "helper", "human", "2"))["value"].endswith("Likes tea.")
    assert (await cli.run("blocks", "show", "helper", "human", "--value")).stdout.endswith("Likes tea.\n")

    # tools: list, show, run with the secret, a schema error pointing at the parameter
    assert "deploy" in await cli.table("tools", "list", headers=("NAME", "ID", "APPROVAL"))
    assert len(await cli.json("tools", "list")) == 2
    assert (await cli.record("tools", "show", "lookup_weather"))[
        "parameters"
    ] == "city: string, days?: integer"
    assert (await cli.json("tools", "show", weather["id"]))["source_code"] == WEATHER
    ran = await cli.run("tools", "run", "lookup_weather", '{"city": "Lisbon"}')
    assert ran.returncode == 0 and '"key": "sunny-key-123"' in ran.stdout and "ok in" in ran.stderr
    run_json = await cli.json("tools", "run", "lookup_weather", '{"city": "Porto"}')
    assert run_json["outcome"] == "ok" and run_json["result"]["city"] == "Porto" and "duration" in run_json
    await cli.fails("tools", "run", "lookup_weather", '{"city": 3}', code=2, says="city")
    await cli.fails("tools", "run", "lookup_weather", "{city", code=2, says="not JSON")

    # attach and detach (both forms)
    assert "attached deploy to helper" in await cli.table("tools", "attach", "deploy", "helper", headers=())
    assert len((await cli.json("tools", "detach", "deploy", "helper"))["tool_ids"]) == 1
    assert (await cli.json("tools", "attach", "deploy", "scribe"))["tool_ids"]
    assert "detached" in await cli.table("tools", "detach", "deploy", "scribe", headers=())

    # export with history, import as a copy (both forms), delete (asks for --yes without a terminal)
    document = tmp_path / "helper.json"
    await cli.table("agents", "export", "helper", "-o", str(document), "--messages", headers=())
    assert json.loads(document.read_text())["format"] == "agentsuite.agent"
    copy = await cli.json("agents", "import", str(document), "--name", "helper-copy")
    assert copy["tool_ids"] == agent["tool_ids"]
    assert (await cli.record("agents", "import", str(document), "--name", "helper-copy-2"))[
        "name"
    ] == "helper-copy-2"
    await cli.fails("agents", "delete", "helper-copy", code=2, says="--yes")
    assert (await cli.json("agents", "delete", "helper-copy", "--yes"))["deleted"] == copy["id"]
    assert "deleted agent helper-copy-2" in await cli.table(
        "agents", "delete", "helper-copy-2", "--yes", headers=()
    )
    await cli.fails("agents", "show", copy["id"], code=3, says="not found")

    # deletes of secrets and tools
    assert "deleted secret OTHER" in await cli.table("secrets", "delete", "OTHER", headers=())
    assert (await cli.json("secrets", "delete", "WEATHER_KEY"))["deleted"] == "WEATHER_KEY"
    await cli.json("tools", "detach", "lookup_weather", "helper")
    assert (await cli.json("tools", "delete", "lookup_weather"))["deleted"] == weather["id"]
    assert "deleted tool deploy" in await cli.table("tools", "delete", "deploy", headers=())


async def test_keys_version_and_the_messages_a_user_gets(cli, running_suite, tmp_path):
    keys = Cli(cli.endpoint, cli.key, {**cli.env, "DATABASE_URL": running_suite.database_url})
    tenant = f"k-{uuid.uuid4().hex[:8]}"
    issued = await keys.json("keys", "create", "--tenant", tenant, "--name", "ci", gateway=False)
    created = await keys.run("keys", "create", "--tenant", tenant, gateway=False)
    assert created.returncode == 0 and "shown once" in created.stderr
    listed = (await keys.run("keys", "list", "--tenant", tenant, gateway=False)).stdout
    assert listed.splitlines()[0].split()[:3] == ["ID", "TENANT", "PREFIX"] and issued["id"] in listed
    assert [k["name"] for k in await keys.json("keys", "list", "--tenant", tenant, gateway=False)] == [
        "ci",
        "",
    ]

    other = Cli(cli.endpoint, issued["key"], cli.env)
    assert await other.json("agents", "list") == []
    revoked = await keys.run("keys", "revoke", issued["id"], gateway=False)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    refused = await other.fails("agents", "list", code=5, says="refused the API key from --key")
    assert "keys create" in refused

    # the key file of `up`, named when it is refused; no key at all
    state = tmp_path / "state"
    state.mkdir()
    (state / "api_key").write_text(issued["key"] + "\n")
    from_file = Cli(cli.endpoint, "", cli.env)
    done = await from_file.run(
        "agents", "list", "--endpoint", cli.endpoint, "--state-dir", str(state), gateway=False
    )
    assert done.returncode == 5 and f"the key file {state / 'api_key'}" in done.stderr
    (state / "api_key").unlink()
    done = await from_file.run(
        "agents", "list", "--endpoint", cli.endpoint, "--state-dir", str(state), gateway=False
    )
    assert done.returncode == 5 and "no API key" in done.stderr

    # the suite down: say so and how to start it
    down = Cli(f"127.0.0.1:{free_port()}", cli.key, cli.env)
    stderr = await down.fails("agents", "list", code=4, says="the suite is not running")
    assert "make up" in stderr

    version = await cli.run("--version", gateway=False)
    assert version.returncode == 0 and version.stdout.startswith("agentsuite ")
    usage = await cli.run("agents", "create", gateway=False)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


async def test_runs_messages_and_archives(cli, running_suite, tmp_path):
    model = model_name()
    (tmp_path / "deploy.py").write_text(DEPLOY)
    await cli.json("tools", "add", str(tmp_path / "deploy.py"), "--requires-approval")
    agent = await cli.json(
        "agents", "create", "ops", "--model", f"openai/{model}", "--tool", "deploy", "--template", "plain"
    )
    call = {"id": "call-1", "name": "deploy", "arguments": '{"service": "billing"}'}
    running_suite.llm.script(
        model,
        [
            {"tool_calls": [call]},
            {"content": "Deployed billing."},
            {"tool_calls": [{**call, "id": "call-2"}]},
            {"content": "Understood, not deploying."},
        ],
    )

    # a run that waits for approval; list and show it; approve it
    first = await cli.run("chat", "ops", "-m", "deploy billing please")
    assert first.returncode == 0, first.stderr
    assert "waits for your approval" in first.stdout and "agentsuite runs approve" in first.stdout
    waiting = await cli.json("runs", "list", "--agent", "ops", "--status", "awaiting_approval")
    (run,) = waiting
    assert "awaiting_approval" in await cli.table("runs", "list", headers=("ID", "AGENT", "STATUS"))
    shown = await cli.record("runs", "show", run["id"])
    assert shown["status"] == "awaiting_approval" and "call-1: deploy" in shown["awaiting"]
    assert (await cli.json("runs", "show", run["id"]))["pending_approvals"][0]["name"] == "deploy"
    approved = await cli.run("runs", "approve", run["id"])
    assert approved.returncode == 0 and "Deployed billing." in approved.stdout, approved.stderr

    # a second one, denied with a reason (the model reads it)
    await cli.run("chat", "ops", "-m", "deploy it again")
    (second,) = await cli.json("runs", "list", "--agent", "ops", "--status", "awaiting_approval")
    denied = await cli.json("runs", "approve", second["id"], "--deny", "--reason", "not on a Friday")
    assert denied["run"]["status"] == "RUN_STATUS_COMPLETED"
    assert "denied by a human: not on a Friday" in str(running_suite.llm.requests(model)[-1]["messages"])
    await cli.fails("runs", "approve", second["id"], code=1, says="not awaiting approval")

    # watch a run after it ended, from the start and from a seq
    watched = await cli.run("runs", "watch", run["id"])
    assert watched.returncode == 0
    assert '⚙ [1] deploy(service="billing")' in watched.stdout and "↳ [1] ok" in watched.stdout
    assert "Deployed billing." in watched.stdout and f"model openai/{model}" in watched.stdout
    events = (await cli.run("runs", "watch", run["id"], "--after-seq", "3", "--json")).stdout.splitlines()
    assert events and all('"seq"' in line for line in events)
    assert min(int(json.loads(e)["seq"]) for e in events) == 4

    # cancel a run in flight (both forms; a stopped run is returned unchanged)
    running_suite.llm.script(model, [{"content": "slow " * 200, "chunk_size": 5, "chunk_delay_ms": 50}])
    async with connect(cli.endpoint, api_key=cli.key) as client:
        slow = await client.runs.create(agent["id"], "write slowly")
    cancelled = await cli.table("runs", "cancel", slow.id, headers=())
    assert f"run {slow.id}:" in cancelled
    async with connect(cli.endpoint, api_key=cli.key) as client:
        final = await client.runs.wait(slow.id)
    assert final.stop_reason == 5  # STOP_REASON_CANCELLED
    assert (await cli.json("runs", "cancel", slow.id))["status"] == "RUN_STATUS_CANCELLED"

    # messages: a page (with the model that answered), a date range, a search
    page = await cli.table("messages", "list", "ops", headers=("SEQ", "ROLE", "MODEL", "TEXT"))
    assert "deploy billing please" in page and f"openai/{model}" in page
    assert len(await cli.json("messages", "list", "ops", "--limit", "3")) == 3
    assert await cli.json("messages", "list", "ops", "--since", "2000-01-01", "--until", "2001-01-01") == []
    found = await cli.json("messages", "search", "ops", "billing", "--since", "1h")
    assert found and all(
        "billing" in r["message"]["content"].lower() or r["message"].get("tool_calls") for r in found
    )
    assert "deploy billing please" in await cli.table(
        "messages", "search", "ops", "billing", headers=("SCORE", "SEQ")
    )

    # archives by name: create, list, insert, search, delete
    notes = tmp_path / "notes.txt"
    notes.write_text("Ana likes lighthouses\nThe harbour crane moved containers\n")
    archive = await cli.json("archives", "create", "notes", "--agent", "ops")
    assert (await cli.record("archives", "create", "scratch"))["EMBEDDER"] == "local (384)"
    listed = await cli.table("archives", "list", headers=("NAME", "ID", "EMBEDDER", "AGENTS"))
    assert "notes" in listed and "ops" in listed
    assert {a["name"] for a in await cli.json("archives", "list", "--agent", "ops")} >= {"notes"}
    assert "inserted 2 passages" in await cli.table("archives", "insert", "notes", str(notes), headers=())
    assert (await cli.json("archives", "insert", "scratch", str(notes), "--tag", "t"))["inserted"] == 2
    hits = await cli.json("archives", "search", "notes", "lighthouse")
    assert hits[0]["passage"]["text"] == "Ana likes lighthouses"
    assert "harbour crane" in await cli.table(
        "archives", "search", "notes", "crane", "--mode", "full_text", headers=("SCORE", "TEXT")
    )
    assert (await cli.json("archives", "delete", "notes", "--yes"))["deleted"] == archive["id"]
    assert "deleted archive scratch" in await cli.table("archives", "delete", "scratch", "--yes", headers=())
    await cli.fails("archives", "search", "notes", "x", code=3, says="no archive 'notes'")
