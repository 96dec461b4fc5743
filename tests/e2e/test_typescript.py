"""The TypeScript client, its examples and the shell's `buf curl` example against the running suite.

The client and the examples are compiled with tsc (clients/typescript, examples/typescript) and run
by Node in their own processes, the examples all at once; the fake LLM is scripted per example.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from google.rpc import error_details_pb2

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"
EXAMPLES = REPO_ROOT / "examples" / "typescript" / "dist"


@pytest.fixture(scope="module")
def compiled() -> None:
    """tsc --build of the client, its tests and the examples (a few seconds)."""
    if shutil.which("node") is None or not (NODE_BIN / "tsc").exists():
        pytest.fail("node and node_modules/.bin/tsc are needed; `make setup` installs them")
    result = subprocess.run(
        [str(NODE_BIN / "tsc"), "--build", "clients/typescript/test", "examples/typescript"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def node_env(running_suite, **extra: str) -> dict[str, str]:
    key = await running_suite.new_key(f"ts-{uuid.uuid4().hex[:12]}")
    return {
        **os.environ,
        "AGENTSUITE_GATEWAY_ADDR": running_suite.address,
        "AGENTSUITE_API_KEY": key,
        "AGENTSUITE_FAKE_LLM_URL": running_suite.llm.base_url,
        **extra,
    }


async def run(*command: str, env: dict[str, str], stdin: str = "", cwd: Path = REPO_ROOT) -> str:
    """Run a command to its end (at most 120 s); its output, stderr included, if it exits 0."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=120)
    text = output.decode()
    assert process.returncode == 0, f"{' '.join(command)} exited with {process.returncode}:\n{text}"
    return text


def scripted(running_suite, replies: list[dict]) -> str:
    """A model name of its own on the fake LLM, with these replies queued."""
    model = f"ts-example-{uuid.uuid4().hex}"
    running_suite.llm.script(model, replies)
    return model


def tool_call(name: str, **arguments) -> dict:
    return {
        "tool_calls": [
            {"id": f"call_{uuid.uuid4().hex[:8]}", "name": name, "arguments": json.dumps(arguments)}
        ]
    }


async def test_the_typescript_client_converses_reads_memory_and_decodes_error_details(
    compiled, running_suite
):
    await run("node", "--test", "clients/typescript/dist-test/", env=await node_env(running_suite))


async def test_the_typescript_examples_run_against_the_suite(compiled, running_suite):
    haiku = "Grey waves fold and break / salt wind carries gull voices / the tide keeps its time"
    story = "The keeper lit the lamp every night, and every night the sea answered with light."
    models = {
        "chat": scripted(
            running_suite, [{"content": "Hello! How can I help?"}, {"content": "Fine, thanks."}]
        ),
        "agents_talk": scripted(
            running_suite,
            [
                tool_call(
                    "send_message_to_agents_matching_tags", tags=["poet"], message="A haiku on the sea"
                ),
                {"content": haiku},
                {"content": f"Our poet offers: {haiku}"},
            ],
        ),
        "custom_tool": scripted(
            running_suite, [tool_call("weather_report", city="Paris"), {"content": "Sunny in Paris."}]
        ),
        # Slow enough that the stream is dropped while the reply is still being written.
        "resume": scripted(running_suite, [{"content": story, "chunk_size": 8, "chunk_delay_ms": 30}]),
    }
    stdin = {"chat": "hello\nhow are you?\n"}

    async def example(name: str) -> str:
        env = await node_env(running_suite, WEATHER_API_TOKEN="s3cret-9876")
        command = ("node", str(EXAMPLES / f"{name}.js"), "--model", models[name])
        return await run(*command, env=env, stdin=stdin.get(name, ""))

    chat, agents_talk, custom_tool, resume = await asyncio.gather(*(example(name) for name in models))

    assert "agent> Hello! How can I help?" in chat and "agent> Fine, thanks." in chat
    assert "host calls send_message_to_agents_matching_tags" in agents_talk
    assert f"host: Our poet offers: {haiku}" in agents_talk
    assert f"poet's history #2: {haiku}" in agents_talk
    assert "secrets of the agent (names only): WEATHER_API_TOKEN\n" in custom_tool
    assert "the tool returns: Sunny and 21 C in Paris (asked with a token ending in 9876)" in custom_tool
    assert "s3cret" not in custom_tool
    assert "-- stream lost after #2;" in resume
    assert "no gap, no duplicate" in resume and f"story: {story}" in resume


async def test_the_shell_example_uses_buf_curl_through_the_gateways_reflection(running_suite, tmp_path):
    # buf convert decodes error details with google/rpc's protos; the shell example's default is
    # the Buf Schema Registry, out of reach here, so it gets the ones googleapis-common-protos ships.
    protos = tmp_path / "google" / "rpc"
    protos.mkdir(parents=True)
    shutil.copy(Path(error_details_pb2.__file__).with_name("error_details.proto"), protos)
    env = await node_env(
        running_suite,
        BUF=str(NODE_BIN / "buf"),
        GOOGLE_RPC_PROTOS=str(tmp_path),
        MODEL=scripted(running_suite, [{"content": "Hi, shell."}, {"content": "Again, hi."}]),
    )

    output = await run("bash", str(REPO_ROOT / "examples/shell/hello.sh"), running_suite.address, env=env)

    assert "agentsuite.gateway.v1.ConversationService\n" in output
    assert '"content": "Hi, shell."' in output
    assert '"content": "Again, hi."' in output
    assert '"role": "MESSAGE_ROLE_ASSISTANT"' in output
    assert '{"fieldViolations":[{"field":"agent.name","description":"must not be empty"}]}' in output
