"""docs/api.md is the contract rendered: current with protos/, and every public RPC on it with its
errors (issue 16)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from agentsuite.agent.v1 import agent_service_pb2
from agentsuite.gateway.v1 import gateway_service_pb2
from agentsuite.memory.v1 import memory_service_pb2
from agentsuite.tools.v1 import tools_service_pb2

REPO_ROOT = Path(__file__).resolve().parents[2]
PUBLIC = [
    gateway_service_pb2.DESCRIPTOR.services_by_name["ConversationService"],
    agent_service_pb2.DESCRIPTOR.services_by_name["AgentService"],
    memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"],
    tools_service_pb2.DESCRIPTOR.services_by_name["ToolService"],
]


def test_api_docs_are_current_with_the_protos() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "gen_api_docs.py"), "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_public_rpc_is_documented_with_its_errors_and_no_internal_one_is() -> None:
    page = (REPO_ROOT / "docs" / "api.md").read_text()
    sections = dict(re.findall(r"^### (\w+\.\w+)\n(.*?)(?=^### |^## |\Z)", page, re.M | re.S))
    for service in PUBLIC:
        for method in service.methods:
            section = sections.get(f"{service.name}.{method.name}")
            assert section is not None, f"{service.name}.{method.name} is missing"
            assert "**Errors" in section, f"{service.name}.{method.name} lists no errors"
    assert not [name for name in sections if "Runtime." in name]
    assert "StepRequest" not in page and "AppendMessagesRequest" not in page
