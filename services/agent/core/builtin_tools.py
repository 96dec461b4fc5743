"""The built-in tools every agent has: core memory edits, archival memory, recall search, and messaging
other agents. They run in the agent service as calls to memory or to the gateway; their results are
plain text the model reads, and a refusal (an edit past a block's limit, an unknown label) comes back
as a tool error the model can act on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from services.agent.core.tools import ToolDefinition

MAX_SEARCH_RESULTS = 20
MAX_CALL_ID_IN_KEY = 100
"""Longest tool-call id used as it is in an effect key (keys hold at most 200 characters)."""
RESULT_PREVIEW_CHARS = 1_000

# ---------------------------------------------------------------------------------------------------
# What the built-ins need from the world (memory and the gateway), as the loop's caller provides it.


@dataclass(frozen=True, kw_only=True)
class BlockEdit:
    """One core-memory edit; exactly one of the kinds memory understands."""

    kind: str
    """``append``, ``replace``, ``insert`` or ``rewrite``."""
    text: str = ""
    old_text: str = ""
    line: int = -1


@dataclass(frozen=True, kw_only=True)
class Found:
    """A search hit, as the model reads it."""

    text: str
    score: float
    when: datetime | None
    role: str = ""
    tags: tuple[str, ...] = ()


class MemoryTools(Protocol):
    """Memory, as the built-in tools use it (the memory client implements it)."""

    async def edit_block(
        self, agent_id: str, label: str, edit: BlockEdit, *, run_id: str, epoch: int, key: str
    ) -> str:
        """Apply the edit once per ``key``; returns the block's value after it."""
        ...

    async def insert_passage(
        self, archive_id: str, text: str, tags: Sequence[str], *, agent_id: str, epoch: int, key: str
    ) -> str:
        """Insert one passage once per ``key``, fenced by the run's epoch when it is not 0."""
        ...

    async def search_passages(
        self,
        agent_id: str,
        query: str,
        *,
        tags: Sequence[str],
        match_all: bool,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[Found]: ...

    async def search_messages(
        self,
        agent_id: str,
        query: str,
        *,
        roles: Sequence[str],
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[Found]: ...


class AgentMessaging(Protocol):
    """Other agents, reached through the gateway so their lanes apply."""

    async def send_and_wait(
        self, sender: str, target: str, message: str, *, parent_run_id: str, key: str
    ) -> str:
        """Send a message from agent ``sender`` (in its run ``parent_run_id``) and return the
        target's reply text; the same ``key`` again is the same run of the target."""
        ...

    async def send_no_wait(
        self, sender: str, target: str, message: str, *, parent_run_id: str, key: str
    ) -> str:
        """Send a message and return once the target's run is accepted (once per ``key``); returns
        the run id."""
        ...

    async def agents_with_tags(self, tags: Sequence[str], *, match_all: bool) -> list[str]:
        """Ids of this tenant's agents carrying the tags."""
        ...

    async def send_to_many(
        self, sender: str, targets: Sequence[str], message: str, *, parent_run_id: str, key: str
    ) -> list[dict]:
        """Send to every target, each in its own lane; one ``{agent_id, reply | error}`` per target,
        in the order they answered."""
        ...


@dataclass(frozen=True, kw_only=True)
class CallSite:
    """Who is calling a tool: the agent, its archive, the run, its fencing epoch and deadline, and
    which call of which step."""

    agent_id: str
    archive_id: str
    run_id: str
    epoch: int
    deadline: float | None = None
    """Absolute ``time.monotonic()`` by which the run must end."""
    step: int = 0
    call_id: str = ""

    @property
    def effect_key(self) -> str:
        """The key of this call's effects: a step executed again (a retry, a takeover) repeats its
        calls with the same keys, and an effect applied before is not applied again. A call id
        the provider made too long for a key (or with a NUL) is hashed."""
        call = self.call_id
        if len(call) > MAX_CALL_ID_IN_KEY or "\x00" in call:
            call = "sha256:" + hashlib.sha256(call.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{self.run_id}:{self.step}:{call}"


class ToolFailure(Exception):
    """A built-in tool refused its input; the message is the tool error the model reads."""


# ---------------------------------------------------------------------------------------------------
# Definitions: what the model is told.


def _schema(properties: dict[str, Any], required: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_STRING = {"type": "string"}
_LABEL = {"type": "string", "description": "Label of the core memory block, e.g. 'human' or 'persona'."}
_DATE = {
    "type": "string",
    "description": "ISO 8601 date or date-time, e.g. '2026-11-21' or '2026-11-21T14:00:00Z'.",
}
_TAGS = {"type": "array", "items": {"type": "string"}, "description": "Tags to filter or label by."}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH_RESULTS, "description": "How many results."}

BUILTIN_TOOLS: tuple[ToolDefinition, ...] = (
    ToolDefinition(
        name="core_memory_append",
        description="Append text to one of your core memory blocks (always in your context).",
        parameters=_schema({"label": _LABEL, "content": _STRING}, ["label", "content"]),
    ),
    ToolDefinition(
        name="core_memory_replace",
        description=(
            "Replace one exact occurrence of old_content in a core memory block with new_content "
            "(empty new_content deletes it). old_content must occur exactly once."
        ),
        parameters=_schema(
            {"label": _LABEL, "old_content": _STRING, "new_content": _STRING},
            ["label", "old_content", "new_content"],
        ),
    ),
    ToolDefinition(
        name="core_memory_insert",
        description="Insert text before a line (0-based; -1 for the end) of a core memory block.",
        parameters=_schema(
            {"label": _LABEL, "content": _STRING, "line": {"type": "integer", "minimum": -1}},
            ["label", "content"],
        ),
    ),
    ToolDefinition(
        name="core_memory_rewrite",
        description="Replace the whole value of a core memory block.",
        parameters=_schema({"label": _LABEL, "new_content": _STRING}, ["label", "new_content"]),
    ),
    ToolDefinition(
        name="archival_memory_insert",
        description="Store a passage in your archival memory (long-term, searched by meaning).",
        parameters=_schema({"content": _STRING, "tags": _TAGS}, ["content"]),
        parallel_safe=True,
    ),
    ToolDefinition(
        name="archival_memory_search",
        description="Search your archival memory by meaning and keywords, optionally by tags and time.",
        parameters=_schema(
            {
                "query": _STRING,
                "tags": _TAGS,
                "match_all_tags": {"type": "boolean", "description": "Require every tag (default: any)."},
                "start_date": _DATE,
                "end_date": _DATE,
                "limit": _LIMIT,
            },
            ["query"],
        ),
        parallel_safe=True,
    ),
    ToolDefinition(
        name="conversation_search",
        description="Search your whole conversation history (also what left your context) by text and date.",
        parameters=_schema(
            {
                "query": _STRING,
                "roles": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["user", "assistant", "tool", "system"]},
                },
                "start_date": _DATE,
                "end_date": _DATE,
                "limit": _LIMIT,
            },
            ["query"],
        ),
        parallel_safe=True,
    ),
    ToolDefinition(
        name="send_message_to_agent_and_wait_for_reply",
        description="Send a message to another agent and wait for its reply.",
        parameters=_schema({"agent_id": _STRING, "message": _STRING}, ["agent_id", "message"]),
        parallel_safe=True,
    ),
    ToolDefinition(
        name="send_message_to_agent_async",
        description="Send a message to another agent without waiting for its reply.",
        parameters=_schema({"agent_id": _STRING, "message": _STRING}, ["agent_id", "message"]),
        parallel_safe=True,
    ),
    ToolDefinition(
        name="send_message_to_agents_matching_tags",
        description=(
            "Send a message to every agent carrying the tags (any tag, or all with match_all_tags) and "
            "collect their replies."
        ),
        parameters=_schema(
            {"tags": _TAGS, "match_all_tags": {"type": "boolean"}, "message": _STRING},
            ["tags", "message"],
        ),
        parallel_safe=True,
    ),
)
BUILTIN_BY_NAME: Mapping[str, ToolDefinition] = {tool.name: tool for tool in BUILTIN_TOOLS}

# ---------------------------------------------------------------------------------------------------
# Implementations.


class BuiltinTools:
    """Runs built-in tool calls for any agent; holds only its collaborators."""

    def __init__(self, *, memory: MemoryTools, messaging: AgentMessaging, max_broadcast_targets: int = 50):
        self._memory = memory
        self._messaging = messaging
        self._max_broadcast = max_broadcast_targets
        self._handlers: dict[str, Callable[[CallSite, dict[str, Any]], Awaitable[str]]] = {
            "core_memory_append": self._append,
            "core_memory_replace": self._replace,
            "core_memory_insert": self._insert,
            "core_memory_rewrite": self._rewrite,
            "archival_memory_insert": self._archival_insert,
            "archival_memory_search": self._archival_search,
            "conversation_search": self._conversation_search,
            "send_message_to_agent_and_wait_for_reply": self._send_and_wait,
            "send_message_to_agent_async": self._send_no_wait,
            "send_message_to_agents_matching_tags": self._send_to_tags,
        }

    async def call(self, name: str, site: CallSite, arguments: dict[str, Any]) -> str:
        """Run one call with arguments already checked against the tool's schema."""
        return await self._handlers[name](site, arguments)

    async def _edit(self, site: CallSite, label: str, edit: BlockEdit) -> str:
        value = await self._memory.edit_block(
            site.agent_id, label, edit, run_id=site.run_id, epoch=site.epoch, key=site.effect_key
        )
        return f"Block '{label}' now reads:\n{value}"

    async def _append(self, site: CallSite, args: dict[str, Any]) -> str:
        return await self._edit(site, args["label"], BlockEdit(kind="append", text=args["content"]))

    async def _replace(self, site: CallSite, args: dict[str, Any]) -> str:
        edit = BlockEdit(kind="replace", old_text=args["old_content"], text=args["new_content"])
        return await self._edit(site, args["label"], edit)

    async def _insert(self, site: CallSite, args: dict[str, Any]) -> str:
        edit = BlockEdit(kind="insert", text=args["content"], line=int(args.get("line", -1)))
        return await self._edit(site, args["label"], edit)

    async def _rewrite(self, site: CallSite, args: dict[str, Any]) -> str:
        return await self._edit(site, args["label"], BlockEdit(kind="rewrite", text=args["new_content"]))

    async def _archival_insert(self, site: CallSite, args: dict[str, Any]) -> str:
        if not site.archive_id:
            raise ToolFailure("this agent has no archive")
        passage_id = await self._memory.insert_passage(
            site.archive_id,
            args["content"],
            args.get("tags") or (),
            agent_id=site.agent_id,
            epoch=site.epoch,
            key=site.effect_key,
        )
        return f"Stored in archival memory (passage {passage_id})."

    async def _archival_search(self, site: CallSite, args: dict[str, Any]) -> str:
        start, end = _date_range(args)
        found = await self._memory.search_passages(
            site.agent_id,
            args["query"],
            tags=args.get("tags") or (),
            match_all=bool(args.get("match_all_tags")),
            start=start,
            end=end,
            limit=int(args.get("limit") or 5),
        )
        return _render_found(found, "archival memory")

    async def _conversation_search(self, site: CallSite, args: dict[str, Any]) -> str:
        start, end = _date_range(args)
        found = await self._memory.search_messages(
            site.agent_id,
            args["query"],
            roles=args.get("roles") or (),
            start=start,
            end=end,
            limit=int(args.get("limit") or 5),
        )
        return _render_found(found, "the conversation history")

    async def _send_and_wait(self, site: CallSite, args: dict[str, Any]) -> str:
        reply = await self._messaging.send_and_wait(
            site.agent_id,
            _other_agent(site, args["agent_id"]),
            args["message"],
            parent_run_id=site.run_id,
            key=site.effect_key,
        )
        return reply or "(the agent replied without text)"

    async def _send_no_wait(self, site: CallSite, args: dict[str, Any]) -> str:
        run_id = await self._messaging.send_no_wait(
            site.agent_id,
            _other_agent(site, args["agent_id"]),
            args["message"],
            parent_run_id=site.run_id,
            key=site.effect_key,
        )
        return f"Message accepted (run {run_id}); the agent will process it without you waiting."

    async def _send_to_tags(self, site: CallSite, args: dict[str, Any]) -> str:
        tags = args["tags"]
        if not tags:
            raise ToolFailure("give at least one tag")
        targets = [
            a
            for a in await self._messaging.agents_with_tags(tags, match_all=bool(args.get("match_all_tags")))
            if a != site.agent_id
        ]
        if not targets:
            return "No other agent carries those tags."
        if len(targets) > self._max_broadcast:
            raise ToolFailure(
                f"{len(targets)} agents match; at most {self._max_broadcast} can be messaged at once; "
                "use more specific tags"
            )
        replies = await self._messaging.send_to_many(
            site.agent_id, targets, args["message"], parent_run_id=site.run_id, key=site.effect_key
        )
        return json.dumps(replies, ensure_ascii=False)


def _other_agent(site: CallSite, agent_id: str) -> str:
    if agent_id == site.agent_id:
        raise ToolFailure("an agent cannot message itself")
    return agent_id


def _date_range(args: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    start = _parse_when(args.get("start_date"), "start_date", end=False)
    end = _parse_when(args.get("end_date"), "end_date", end=True)
    if start and end and start >= end:
        raise ToolFailure("start_date must be before end_date")
    return start, end


def _parse_when(value: str | None, name: str, *, end: bool) -> datetime | None:
    """A date means its whole day: as a start, its midnight; as an end, the next midnight."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ToolFailure(f"{name}: {value!r} is not an ISO 8601 date or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _render_found(found: Sequence[Found], where: str) -> str:
    if not found:
        return f"Nothing found in {where}."
    lines = []
    for index, hit in enumerate(found, start=1):
        text = hit.text if len(hit.text) <= RESULT_PREVIEW_CHARS else hit.text[:RESULT_PREVIEW_CHARS] + "…"
        head = [f"{index}."]
        if hit.when:
            head.append(hit.when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        if hit.role:
            head.append(hit.role)
        if hit.tags:
            head.append("tags: " + ", ".join(hit.tags))
        lines.append(" ".join(head) + f" (score {hit.score:.3f})\n{text}")
    return "\n".join(lines)
