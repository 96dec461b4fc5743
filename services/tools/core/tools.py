"""Tools: what one is, and how a create or update request becomes a valid, complete definition."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from services.common.errors import InvalidArgument, Validation
from services.tools.core.schema import derive_schema, parse_function
from services.tools.core.validation import check_explicit_schema, check_tool_name, function_schema

MAX_SOURCE_CHARS = 100_000
MAX_DESCRIPTION_CHARS = 10_000
MAX_TAGS = 64
MAX_TAG_CHARS = 100
MAX_SECRETS = 64
MAX_RESULT_CHAR_LIMIT = 1_000_000
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Names that would change how the sandboxed interpreter or its children behave.
RESERVED_ENV_NAMES = frozenset({"PATH", "LANG", "HOME", "PWD", "TMPDIR", "SHELL", "IFS"})
RESERVED_ENV_PREFIXES = ("PYTHON", "LD_", "LC_", "AGENTSUITE_")


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """A complete tool definition, as stored."""

    name: str
    description: str
    source_code: str
    function_name: str
    json_schema: dict
    parallel_safe: bool = False
    requires_approval: bool = False
    result_char_limit: int = 0
    timeout_seconds: float | None = None
    secret_names: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Tool(ToolSpec):
    """A stored tool."""

    id: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class ToolDraft:
    """What a caller sends: empty name and description are filled from the source, and a missing
    schema is derived from it."""

    name: str = ""
    description: str = ""
    source_code: str = ""
    json_schema: dict | None = None
    parallel_safe: bool = False
    requires_approval: bool = False
    result_char_limit: int = 0
    timeout_seconds: float | None = None
    secret_names: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


def is_valid_secret_name(name: str) -> bool:
    """A secret's name is an environment variable name the sandbox may set."""
    return (
        bool(ENV_NAME.match(name))
        and name not in RESERVED_ENV_NAMES
        and not name.upper().startswith(RESERVED_ENV_PREFIXES)
    )


def build_spec(draft: ToolDraft, *, max_timeout_seconds: float) -> ToolSpec:
    """Check ``draft`` and complete it into a ToolSpec (deriving the schema when none is given)."""
    _check_limits(draft, max_timeout_seconds)
    if len(draft.source_code) > MAX_SOURCE_CHARS:
        raise InvalidArgument.field("tool.source_code", f"must be at most {MAX_SOURCE_CHARS} characters")
    function = parse_function(draft.source_code)
    name = draft.name or function.name
    check_tool_name(name)
    if draft.json_schema is None:
        derived = derive_schema(draft.source_code)
        description = draft.description or derived.description
        schema = function_schema(name, description, derived.parameters)
    else:
        schema = check_explicit_schema(draft.json_schema, tool_name=name, function=function)
        description = draft.description or schema["description"] or function.summary
        schema["description"] = description
    return ToolSpec(
        name=name,
        description=description,
        source_code=draft.source_code,
        function_name=function.name,
        json_schema=schema,
        parallel_safe=draft.parallel_safe,
        requires_approval=draft.requires_approval,
        result_char_limit=draft.result_char_limit,
        timeout_seconds=draft.timeout_seconds,
        secret_names=_unique(draft.secret_names),
        tags=_unique(draft.tags),
    )


UPDATABLE = (
    "name",
    "description",
    "source_code",
    "json_schema",
    "parallel_safe",
    "requires_approval",
    "result_char_limit",
    "timeout",
    "secret_names",
    "tags",
)


def apply_update(
    current: ToolSpec, changes: ToolDraft, paths: Iterable[str], *, max_timeout_seconds: float
) -> ToolSpec:
    """``current`` with the fields named in ``paths`` taken from ``changes``.

    A new source without a new schema re-derives the schema (when the current one was derived or
    the new source is given alone); a new name or description is carried into the schema.
    """
    paths = set(paths)
    unknown = paths - set(UPDATABLE)
    if unknown:
        raise InvalidArgument.field(
            "update_mask", f"cannot update {sorted(unknown)}; updatable: {', '.join(UPDATABLE)}"
        )
    draft = ToolDraft(
        name=changes.name if "name" in paths else current.name,
        description=changes.description if "description" in paths else current.description,
        source_code=changes.source_code if "source_code" in paths else current.source_code,
        json_schema=_schema_for_update(current, changes, paths),
        parallel_safe=changes.parallel_safe if "parallel_safe" in paths else current.parallel_safe,
        requires_approval=changes.requires_approval
        if "requires_approval" in paths
        else current.requires_approval,
        result_char_limit=changes.result_char_limit
        if "result_char_limit" in paths
        else current.result_char_limit,
        timeout_seconds=changes.timeout_seconds if "timeout" in paths else current.timeout_seconds,
        secret_names=changes.secret_names if "secret_names" in paths else current.secret_names,
        tags=changes.tags if "tags" in paths else current.tags,
    )
    if "description" not in paths and "source_code" in paths and "json_schema" not in paths:
        draft = replace(draft, description="")  # the new docstring describes the new source
    return build_spec(draft, max_timeout_seconds=max_timeout_seconds)


def _schema_for_update(current: ToolSpec, changes: ToolDraft, paths: set[str]) -> dict | None:
    if "json_schema" in paths:
        return changes.json_schema  # None (cleared) means derive
    if "source_code" in paths:
        return None
    # Keep the stored schema, with the (possibly new) name; the description is set by build_spec.
    kept = dict(current.json_schema)
    kept["name"] = changes.name if "name" in paths else current.name
    kept.pop("description", None)
    return kept


def _check_limits(draft: ToolDraft, max_timeout_seconds: float) -> None:
    check = Validation()
    check.check(
        len(draft.description) <= MAX_DESCRIPTION_CHARS,
        "tool.description",
        f"must be at most {MAX_DESCRIPTION_CHARS} characters",
    )
    check.check(
        0 <= draft.result_char_limit <= MAX_RESULT_CHAR_LIMIT,
        "tool.result_char_limit",
        f"must be between 0 (default) and {MAX_RESULT_CHAR_LIMIT}",
    )
    check.check(
        draft.timeout_seconds is None or 0 < draft.timeout_seconds <= max_timeout_seconds,
        "tool.timeout",
        f"must be positive and at most {max_timeout_seconds:g}s",
    )
    check.check(len(draft.tags) <= MAX_TAGS, "tool.tags", f"must hold at most {MAX_TAGS} tags")
    check.check(
        all(0 < len(tag) <= MAX_TAG_CHARS for tag in draft.tags),
        "tool.tags",
        f"each tag must be 1 to {MAX_TAG_CHARS} characters",
    )
    check.check(
        len(draft.secret_names) <= MAX_SECRETS, "tool.secret_names", f"must hold at most {MAX_SECRETS} names"
    )
    for name in draft.secret_names:
        check.check(
            is_valid_secret_name(name),
            "tool.secret_names",
            f"{name[:80]!r} is not an environment variable name a tool may use",
        )
    check.raise_if_any()


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
