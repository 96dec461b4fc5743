"""One conversation with a custom tool through the gateway, for docker/smoke.sh (run inside a
container of the image, in the pod of the smoke test; not part of the image or the test run).

The fake LLM (``python -m services.fake_llm``) is scripted to call the tool ``add`` and then to
answer; the tool runs in the tools container's bubblewrap sandbox. Prints one JSON line and exits 0
when the tool's result came back and fed the reply, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import grpc
import httpx

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc

ADD_SOURCE = '''
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b
'''


async def converse(gateway: str, api_key: str, llm_admin: str) -> dict:
    auth = (("authorization", f"Bearer {api_key}"),)
    model = f"smoke-{int(time.time())}"
    script = {
        "model": model,
        "replies": [
            {"tool_calls": [{"id": "call_1", "name": "add", "arguments": {"a": 2, "b": 3}}]},
            {"content": "2 + 3 = 5."},
        ],
    }
    async with httpx.AsyncClient() as http:
        (await http.post(f"{llm_admin}/_admin/script", json=script)).raise_for_status()
    async with grpc.aio.insecure_channel(gateway) as channel:
        tool = (
            await tools_service_pb2_grpc.ToolServiceStub(channel).CreateTool(
                tools_service_pb2.CreateToolRequest(tool=tools_pb2.Tool(source_code=ADD_SOURCE)),
                metadata=auth,
                timeout=30,
            )
        ).tool
        agent = (
            await agent_service_pb2_grpc.AgentServiceStub(channel).CreateAgent(
                agent_service_pb2.CreateAgentRequest(
                    agent=agent_pb2.Agent(
                        name="smoke",
                        system_prompt="You are terse.",
                        model=agent_pb2.ModelConfig(provider="openai", model=model),
                        tool_ids=[tool.id],
                    )
                ),
                metadata=auth,
                timeout=30,
            )
        ).agent
        started = time.perf_counter()
        response = await gateway_service_pb2_grpc.ConversationServiceStub(channel).SendMessage(
            gateway_service_pb2.SendMessageRequest(
                agent_id=agent.id,
                messages=[common_pb2.InputMessage(role=common_pb2.MESSAGE_ROLE_USER, content="2+3?")],
            ),
            metadata=auth,
            timeout=60,
        )
        elapsed_ms = (time.perf_counter() - started) * 1000
    tool_results = [m for m in response.messages if m.role == common_pb2.MESSAGE_ROLE_TOOL]
    replies = [
        m.content for m in response.messages if m.role == common_pb2.MESSAGE_ROLE_ASSISTANT and m.content
    ]
    return {
        "agent_id": agent.id,
        "tool_results": [(m.name, m.content) for m in tool_results],
        "reply": replies[-1] if replies else None,
        "stop_reason": common_pb2.StopReason.Name(response.run.stop_reason),
        "send_message_ms": round(elapsed_ms, 1),
    }


def main() -> int:
    outcome = asyncio.run(
        converse(
            os.environ.get("SMOKE_GATEWAY", "127.0.0.1:50051"),
            os.environ["SMOKE_API_KEY"],
            os.environ.get("SMOKE_LLM_ADMIN", "http://127.0.0.1:8089"),
        )
    )
    ok = outcome["tool_results"] == [("add", "5")] and outcome["reply"] == "2 + 3 = 5."
    print(json.dumps({"ok": ok, **outcome}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
