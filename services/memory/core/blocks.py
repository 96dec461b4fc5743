"""Core memory blocks: their rules, the edits agents make to them, and how they appear in a prompt.

Everything here is pure: the store loads a block, calls :func:`apply_edit`, and saves the result.
Refusals are worded for the model that made the edit, so it can correct its next call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from html import escape

from services.common.errors import FailedPrecondition, InvalidArgument, Validation

DEFAULT_LIMIT = 5_000
"""Characters a block may hold when its creator names no limit."""
MAX_LIMIT = 100_000
"""The largest limit a block may have: every attached block is in every prompt of its agents."""
MAX_LABEL = 100
MAX_DESCRIPTION = 2_000
UPDATABLE = ("label", "value", "limit", "read_only", "description", "metadata")
"""The fields of a block an update may change."""
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True, kw_only=True)
class BlockFields:
    """What a block's creator or editor sets."""

    label: str
    value: str = ""
    limit: int = DEFAULT_LIMIT
    read_only: bool = False
    description: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Block(BlockFields):
    """A stored block, with its version and the agents it is attached to."""

    id: str
    version: int
    agent_ids: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class BlockChange:
    """One entry of a block's history."""

    block_id: str
    version: int
    value_before: str
    value_after: str
    agent_id: str
    run_id: str
    created_at: datetime


@dataclass(frozen=True)
class Append:
    text: str


@dataclass(frozen=True)
class Replace:
    old_text: str
    new_text: str


@dataclass(frozen=True)
class Insert:
    line: int
    text: str


@dataclass(frozen=True)
class Rewrite:
    value: str


Edit = Append | Replace | Insert | Rewrite


def check_fields(fields: BlockFields, *, prefix: str = "block.") -> list[tuple[str, str]]:
    """The problems of ``fields`` as (field, description) pairs; empty when valid."""
    problems = []
    if not fields.label:
        problems.append((f"{prefix}label", "is required"))
    elif len(fields.label) > MAX_LABEL or not _LABEL.match(fields.label):
        problems.append(
            (
                f"{prefix}label",
                f"a letter, then letters, digits, '_', '.' or '-'; at most {MAX_LABEL} characters",
            )
        )
    if not 0 < fields.limit <= MAX_LIMIT:
        problems.append((f"{prefix}limit", f"must be between 1 and {MAX_LIMIT} (0 means {DEFAULT_LIMIT})"))
    elif len(fields.value) > fields.limit:
        problems.append(
            (f"{prefix}value", f"{len(fields.value)} characters, over the block's limit of {fields.limit}")
        )
    if len(fields.description) > MAX_DESCRIPTION:
        problems.append((f"{prefix}description", f"must be at most {MAX_DESCRIPTION} characters"))
    return problems


def require_valid(fields: BlockFields, *, prefix: str = "block.") -> None:
    """Raise ``InvalidArgument`` naming every problem of ``fields``."""
    check = Validation()
    for path, description in check_fields(fields, prefix=prefix):
        check.check(False, path, description)
    check.raise_if_any()


def with_changes(current: Block, given: BlockFields, paths: Sequence[str]) -> Block:
    """``current`` with the fields named in ``paths`` taken from ``given``, validated."""
    changed = replace(current, **{path: getattr(given, path) for path in paths})
    require_valid(changed)
    return changed


def apply_edit(block: Block, edit: Edit) -> str:
    """The value of ``block`` after ``edit``; refuses edits the model must change, saying how."""
    if block.read_only:
        raise FailedPrecondition(
            f"block '{block.label}' is read-only; it cannot be edited", reason="BLOCK_READ_ONLY"
        )
    value = _edited(block, edit)
    if len(value) > block.limit:
        raise InvalidArgument.field(
            "edit",
            f"the edit would make block '{block.label}' {len(value)} characters long, over its limit of "
            f"{block.limit} (it holds {len(block.value)} now); make the new text shorter, or first "
            "remove or condense what the block no longer needs",
        )
    return value


def _edited(block: Block, edit: Edit) -> str:
    match edit:
        case Append(text=text):
            if not text:
                raise InvalidArgument.field("edit.append.text", "the text to append is empty")
            return f"{block.value}\n{text}" if block.value else text
        case Replace(old_text=old, new_text=new):
            if not old:
                raise InvalidArgument.field("edit.replace.old_text", "the text to replace is empty")
            found = block.value.count(old)
            if found != 1:
                raise InvalidArgument.field(
                    "edit.replace.old_text",
                    f"the text to replace must occur exactly once in block '{block.label}', "
                    + (
                        "but it does not occur; copy it exactly from the block as shown"
                        if found == 0
                        else f"but it occurs {found} times; include more of the surrounding text "
                        "so it names one place"
                    ),
                )
            return block.value.replace(old, new, 1)
        case Insert(line=line, text=text):
            if not text:
                raise InvalidArgument.field("edit.insert.text", "the text to insert is empty")
            lines = block.value.split("\n") if block.value else []
            position = len(lines) if line < 0 or line > len(lines) else line
            lines[position:position] = text.split("\n")
            return "\n".join(lines)
        case Rewrite(value=value):
            return value
    raise InvalidArgument.field("edit", "one of append, replace, insert or rewrite is required")


def compile_memory(blocks: list[Block] | tuple[Block, ...]) -> str:
    """The core memory section of a prompt: every block with its label, description and usage.

    Values are escaped so a block cannot close its own tag and pose as another block.
    """
    if not blocks:
        return ""
    parts = ["<memory_blocks>"]
    for block in sorted(blocks, key=lambda b: b.label):
        access = "read-only" if block.read_only else "read-write"
        parts.append(f"<{block.label}>")
        if block.description:
            parts.append(f"<description>{escape(block.description, quote=False)}</description>")
        parts.append(
            f"<metadata>chars_current={len(block.value)} chars_limit={block.limit} {access}</metadata>"
        )
        parts.append(f"<value>\n{escape(block.value, quote=False)}\n</value>")
        parts.append(f"</{block.label}>")
    parts.append("</memory_blocks>")
    return "\n".join(parts)
