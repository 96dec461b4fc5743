"""Every enum number copied from the protos, in Python or in SQL, is the proto's.

The cores keep their own enums (no ``*_pb2`` in a core) and the stores write numbers into SQL; both
copy the numbers of ``protos/``. A proto that renumbered or renamed a value would silently change
what is stored or answered; these tests fail instead.
"""

from __future__ import annotations

import re
from enum import IntEnum
from pathlib import Path

import pytest
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2
from agentsuite.memory.v1 import memory_pb2
from services.agent.core.events import StopReason
from services.agent.core.tools import ToolStatus
from services.gateway.core.statuses import RunStatus, RunStopReason
from services.memory.core.archival import SearchMode
from services.memory.core.model import Role

COPIES: list[tuple[type[IntEnum], EnumTypeWrapper, str]] = [
    (Role, common_pb2.MessageRole, "MESSAGE_ROLE_"),
    (StopReason, common_pb2.StopReason, "STOP_REASON_"),
    (ToolStatus, common_pb2.ToolReturnStatus, "TOOL_RETURN_STATUS_"),
    (SearchMode, memory_pb2.SearchMode, "SEARCH_MODE_"),
    (RunStatus, gateway_pb2.RunStatus, "RUN_STATUS_"),
    (RunStopReason, common_pb2.StopReason, "STOP_REASON_"),
]


@pytest.mark.parametrize(("copy", "proto", "prefix"), COPIES, ids=[c[0].__name__ for c in COPIES])
def test_python_enum_equals_the_proto_enum(copy, proto, prefix):
    expected = {name.removeprefix(prefix): number for name, number in proto.items() if number != 0}
    assert {member.name: member.value for member in copy} == expected


ROOT = Path(__file__).resolve().parents[2]
SQL_FILES = sorted((ROOT / "services").glob("*/store/sql/*.sql"))
PROTO_ENUMS = {
    "RUN_STATUS_": gateway_pb2.RunStatus,
    "STOP_REASON_": common_pb2.StopReason,
    "MESSAGE_ROLE_": common_pb2.MessageRole,
}
LEGEND = re.compile(r"\b((?:RUN_STATUS|STOP_REASON|MESSAGE_ROLE)_[A-Z_]+) = (\d+)")
COMPARED = re.compile(r"\b(status|stop_reason)\s*(?:=|<>|IN)\s*\(?\s*(\d+(?:\s*,\s*\d+)*)")


def _legend(text: str) -> dict[str, int]:
    return {name: int(number) for name, number in LEGEND.findall(text)}


@pytest.mark.parametrize("path", SQL_FILES, ids=[p.name for p in SQL_FILES])
def test_every_number_a_sql_file_names_is_the_proto_s(path):
    for name, number in _legend(path.read_text()).items():
        prefix = next(p for p in PROTO_ENUMS if name.startswith(p))
        assert PROTO_ENUMS[prefix].Value(name) == number, f"{path.name}: {name}"


def test_every_status_number_in_gateway_sql_is_in_its_legend():
    """A status or stop reason compared in SQL is one the file's legend names (so it is pinned)."""
    sql = ROOT / "services" / "gateway" / "store" / "sql"
    legend = _legend((sql / "runs.sql").read_text())
    named = {
        "status": {n for name, n in legend.items() if name.startswith("RUN_STATUS_")},
        "stop_reason": {n for name, n in legend.items() if name.startswith("STOP_REASON_")} | {0},
    }
    for path in sorted(sql.glob("*.sql")):
        for column, numbers in COMPARED.findall(path.read_text()):
            for number in numbers.split(","):
                assert int(number) in named[column], f"{path.name}: {column} {number} is not in the legend"
