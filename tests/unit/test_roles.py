"""The one role representation: a role's number (the wire's) and its label (the LLM's) convert both
ways through services/common/roles.py."""

from agentsuite.common.v1 import common_pb2
from services.common.roles import LABELS, Role, label_of, role_of_label


def test_every_label_names_the_role_the_wire_numbers_the_same():
    for label in LABELS:
        assert role_of_label(label) == common_pb2.MessageRole.Value(f"MESSAGE_ROLE_{label.upper()}")


def test_a_role_reads_back_from_its_label():
    assert [role_of_label(role.label) for role in Role] == list(Role)


def test_a_number_that_names_no_role_has_the_default_label():
    assert label_of(common_pb2.MESSAGE_ROLE_TOOL) == "tool"
    assert label_of(common_pb2.MESSAGE_ROLE_UNSPECIFIED, "user") == "user"
    assert label_of(99) == ""
