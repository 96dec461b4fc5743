"""The one check of a run's approvals (gateway and agent service both use it)."""

from __future__ import annotations

import pytest

from services.common.approvals import check_decisions
from services.common.errors import InvalidArgument


def test_deciding_every_waiting_call_once_passes():
    check_decisions(["c1", "c2"], ["c2", "c1"])


@pytest.mark.parametrize(
    ("decided", "problem"),
    [
        (["c1"], "missing: c2"),
        (["c1", "c2", "c3"], "no call awaits approval with id c3"),
        (["c1", "c2", "c1"], "repeated: c1"),
    ],
)
def test_a_missing_unknown_or_repeated_decision_is_refused_naming_the_calls(decided, problem):
    with pytest.raises(InvalidArgument) as refused:
        check_decisions(["c1", "c2"], decided)
    assert problem in refused.value.message
    assert [v.field for v in refused.value.violations] == ["approvals"]
