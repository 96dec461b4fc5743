"""Every enum number copied from the protos, in Python or in SQL, is the proto's.

The cores keep their own enums (no ``*_pb2`` in a core) and the stores write numbers into SQL; both
copy the numbers of ``protos/``. A proto that renumbered or renamed a value would silently change
what is stored or answered; these tests fail instead.
"""

from __future__ import annotations

from enum import IntEnum

import pytest
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2
from services.agent.core.events import StopReason
from services.agent.core.tools import ToolStatus
from services.memory.core.archival import SearchMode
from services.memory.core.model import Role

COPIES: list[tuple[type[IntEnum], EnumTypeWrapper, str]] = [
    (Role, common_pb2.MessageRole, "MESSAGE_ROLE_"),
    (StopReason, common_pb2.StopReason, "STOP_REASON_"),
    (ToolStatus, common_pb2.ToolReturnStatus, "TOOL_RETURN_STATUS_"),
    (SearchMode, memory_pb2.SearchMode, "SEARCH_MODE_"),
]


@pytest.mark.parametrize(("copy", "proto", "prefix"), COPIES, ids=[c[0].__name__ for c in COPIES])
def test_python_enum_equals_the_proto_enum(copy, proto, prefix):
    expected = {name.removeprefix(prefix): number for name, number in proto.items() if number != 0}
    assert {member.name: member.value for member in copy} == expected
