"""The one check of a run's approvals, made by the gateway (before it queues the run again) and by
the agent service (before it applies them): every call that waits is decided, exactly once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.common.errors import InvalidArgument


def check_decisions(waiting: Iterable[str], decided: Sequence[str]) -> None:
    """InvalidArgument (field ``approvals``) unless ``decided`` (tool call ids, in request order)
    names each call id of ``waiting`` once and nothing else."""
    waiting_ids = set(waiting)
    unknown = sorted(set(decided) - waiting_ids)
    missing = sorted(waiting_ids - set(decided))
    repeated = sorted({call_id for call_id in decided if decided.count(call_id) > 1})
    problems = []
    if unknown:
        problems.append(f"no call awaits approval with id {', '.join(unknown)}")
    if missing:
        problems.append(f"decide every waiting call; missing: {', '.join(missing)}")
    if repeated:
        problems.append(f"decide each call once; repeated: {', '.join(repeated)}")
    if problems:
        raise InvalidArgument.field("approvals", "; ".join(problems))
