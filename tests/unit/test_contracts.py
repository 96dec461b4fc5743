"""The protobuf contracts: generated code is current, buf is clean, every
service imports, and every element of the contract is documented."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2

REPO_ROOT = Path(__file__).resolve().parents[2]
GEN_SCRIPT = REPO_ROOT / "scripts" / "gen_protos.py"
BUF = REPO_ROOT / "node_modules" / ".bin" / "buf"

# Every service of the contract, by the module that defines it.
SERVICES = {
    "agentsuite.agent.v1.agent_service_pb2": ["AgentService", "AgentRuntime"],
    "agentsuite.memory.v1.memory_service_pb2": ["MemoryService", "MemoryRuntime"],
    "agentsuite.tools.v1.tools_service_pb2": ["ToolService", "ToolRuntime"],
    "agentsuite.gateway.v1.gateway_service_pb2": ["ConversationService"],
}
STATUS_CODES = re.compile(
    r"\b(OK|CANCELLED|UNKNOWN|INVALID_ARGUMENT|DEADLINE_EXCEEDED|NOT_FOUND|ALREADY_EXISTS|"
    r"PERMISSION_DENIED|RESOURCE_EXHAUSTED|FAILED_PRECONDITION|ABORTED|OUT_OF_RANGE|"
    r"UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS|UNAUTHENTICATED)\b"
)

# Field numbers of descriptor.proto, used in SourceCodeInfo location paths.
FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 4, 5, 6
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM, MESSAGE_ONEOF = 2, 3, 4, 8
ENUM_VALUE, SERVICE_METHOD = 2, 2


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_protos", GEN_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory: pytest.TempPathFactory) -> descriptor_pb2.FileDescriptorSet:
    out = tmp_path_factory.mktemp("descriptors") / "contracts.binpb"
    _load_generator().run_protoc("--include_source_info", f"--descriptor_set_out={out}")
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def test_generated_code_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(GEN_SCRIPT), "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "command",
    [["lint"], ["format", "--diff", "--exit-code"]],
    ids=["buf-lint", "buf-format"],
)
def test_buf_is_clean(command: list[str]) -> None:
    _require_buf()
    result = subprocess.run([str(BUF), *command], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_v1_changes_are_additive_against_every_committed_version_of_the_contracts() -> None:
    """buf breaking (FILE): nothing any commit ever put in a v1 package is removed or changed."""
    _require_buf()
    commits = subprocess.run(
        ["git", "log", "--format=%H", "--", "protos/"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if not commits:
        pytest.skip("no git history of protos/ (not a clone?)")
    for commit in commits:
        result = subprocess.run(
            [str(BUF), "breaking", "protos", "--against", f".git#ref={commit},subdir=protos"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"breaking against {commit[:10]}:\n{result.stdout}{result.stderr}"


def _require_buf() -> None:
    if BUF.exists():
        return
    message = "node_modules/.bin/buf not found; `make setup` installs it"
    if os.environ.get("CI"):
        pytest.fail(message)  # CI must lint, never skip silently
    pytest.skip(message)


@pytest.mark.parametrize("module_name", sorted(SERVICES))
def test_every_service_imports_with_stubs(module_name: str) -> None:
    messages = importlib.import_module(module_name)
    stubs = importlib.import_module(module_name + "_grpc")
    for service in SERVICES[module_name]:
        assert service in messages.DESCRIPTOR.services_by_name
        assert hasattr(stubs, f"{service}Stub")
        assert hasattr(stubs, f"{service}Servicer")
        assert hasattr(stubs, f"add_{service}Servicer_to_server")


def test_no_service_is_left_out_of_the_list(
    descriptor_set: descriptor_pb2.FileDescriptorSet,
) -> None:
    declared = {f"{f.package}.{s.name}" for f in _our_files(descriptor_set) for s in f.service}
    listed = {
        f"{module.rsplit('.', 1)[0]}.{service}"
        for module, services in SERVICES.items()
        for service in services
    }
    assert declared == listed


def test_every_element_has_a_leading_comment(
    descriptor_set: descriptor_pb2.FileDescriptorSet,
) -> None:
    undocumented = []
    for file in _our_files(descriptor_set):
        comments = _leading_comments(file)
        for path, name in _documentable_elements(file):
            if not comments.get(path):
                undocumented.append(f"{file.name}: {name}")
    assert not undocumented, "missing leading comments:\n" + "\n".join(undocumented)


def test_every_rpc_comment_names_its_status_codes(
    descriptor_set: descriptor_pb2.FileDescriptorSet,
) -> None:
    silent = []
    for file in _our_files(descriptor_set):
        comments = _leading_comments(file)
        for s, service in enumerate(file.service):
            for m, method in enumerate(service.method):
                path = (FILE_SERVICE, s, SERVICE_METHOD, m)
                if not STATUS_CODES.search(comments.get(path, "")):
                    silent.append(f"{service.name}.{method.name}")
    assert not silent, "RPC comments naming no status code: " + ", ".join(silent)


def test_every_service_comment_says_where_the_tenant_comes_from(
    descriptor_set: descriptor_pb2.FileDescriptorSet,
) -> None:
    silent = []
    for file in _our_files(descriptor_set):
        comments = _leading_comments(file)
        for s, service in enumerate(file.service):
            comment = comments.get((FILE_SERVICE, s), "")
            if "x-agentsuite-tenant" not in comment and "authorization" not in comment:
                silent.append(service.name)
    assert not silent, "service comments not naming the tenant metadata: " + ", ".join(silent)


def _our_files(
    descriptor_set: descriptor_pb2.FileDescriptorSet,
) -> list[descriptor_pb2.FileDescriptorProto]:
    files = [f for f in descriptor_set.file if f.name.startswith("agentsuite/")]
    assert files, "no agentsuite protos in the descriptor set"
    return files


def _leading_comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    return {tuple(loc.path): loc.leading_comments.strip() for loc in file.source_code_info.location}


def _documentable_elements(
    file: descriptor_pb2.FileDescriptorProto,
) -> list[tuple[tuple[int, ...], str]]:
    """(source location path, readable name) of every service, RPC, message,
    field, oneof, enum and enum value of a file."""
    elements: list[tuple[tuple[int, ...], str]] = []
    for s, service in enumerate(file.service):
        elements.append(((FILE_SERVICE, s), service.name))
        for m, method in enumerate(service.method):
            elements.append(((FILE_SERVICE, s, SERVICE_METHOD, m), f"{service.name}.{method.name}"))
    for i, message in enumerate(file.message_type):
        elements += _message_elements((FILE_MESSAGE, i), message, message.name)
    for i, enum in enumerate(file.enum_type):
        elements += _enum_elements((FILE_ENUM, i), enum, enum.name)
    return elements


def _message_elements(
    path: tuple[int, ...], message: descriptor_pb2.DescriptorProto, name: str
) -> list[tuple[tuple[int, ...], str]]:
    elements = [(path, name)]
    for j, field in enumerate(message.field):
        elements.append(((*path, MESSAGE_FIELD, j), f"{name}.{field.name}"))
    for k, oneof in enumerate(message.oneof_decl):
        if not oneof.name.startswith("_"):  # synthetic oneof of a proto3 `optional`
            elements.append(((*path, MESSAGE_ONEOF, k), f"{name}.{oneof.name} (oneof)"))
    for k, nested in enumerate(message.nested_type):
        elements += _message_elements((*path, MESSAGE_NESTED, k), nested, f"{name}.{nested.name}")
    for k, enum in enumerate(message.enum_type):
        elements += _enum_elements((*path, MESSAGE_ENUM, k), enum, f"{name}.{enum.name}")
    return elements


def _enum_elements(
    path: tuple[int, ...], enum: descriptor_pb2.EnumDescriptorProto, name: str
) -> list[tuple[tuple[int, ...], str]]:
    elements = [(path, name)]
    for j, value in enumerate(enum.value):
        elements.append(((*path, ENUM_VALUE, j), f"{name}.{value.name}"))
    return elements
