"""Export an agent as one portable document, and import a document as a new agent.

Export reads the agent's configuration, its tools' definitions, its blocks and, when asked, its
whole history and its passages, a page at a time, encoding each page as it arrives (the document
is capped, see :class:`~services.agent.core.agent_file.DocumentWriter`).

Import creates everything anew: tools (reusing the tenant's tool of the same name when its source
is the same), the agent with new ids, its blocks, its history (in order, in idempotent batches,
the summary and eviction boundary restored) and its passages (embedded again by the importing
archive). An import that fails after the agent was created deletes that agent again; tools it
created stay, and a repeated import reuses them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from services.agent.core import agent_file
from services.agent.core.agent_file import (
    ROOT,
    AgentFile,
    DocumentWriter,
    FileMessage,
    FilePassage,
    FileTool,
    parse_document,
)
from services.agent.core.agents import Agent, AgentSpec, ModelCatalog, check_attached_tools
from services.agent.core.lifecycle import AgentLifecycle, AgentMemory, AgentRepository, ToolCatalog
from services.agent.core.tool_rules import ToolRule
from services.common.call import current_call, enter_call
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Validation,
)

log = logging.getLogger(__name__)

MESSAGES_PER_APPEND = 500
PASSAGES_PER_INSERT = 1000
BATCH_CHARS = 4_000_000
"""Characters of text per append or insert call, well under the message size limit."""
MAX_NAME_ATTEMPTS = 100
"""Suffixed names tried for an imported tool whose name the tenant uses for another tool."""


class AgentTransfer:
    """ExportAgent and ImportAgent."""

    def __init__(
        self,
        *,
        store: AgentRepository,
        lifecycle: AgentLifecycle,
        memory: AgentMemory,
        tools: ToolCatalog,
        models: ModelCatalog,
        max_document_bytes: int,
    ):
        self._store = store
        self._lifecycle = lifecycle
        self._memory = memory
        self._tools = tools
        self._models = models
        self._limit = max_document_bytes

    # --- export ------------------------------------------------------------------------------

    async def export_agent(self, tenant: str, agent_id: str, *, messages: bool, passages: bool) -> str:
        """The agent as one JSON document; FAILED_PRECONDITION when it would exceed the cap."""
        agent = await self._store.get(tenant, agent_id)
        tools, snapshot = await asyncio.gather(self._tool_definitions(agent), self._memory.snapshot(agent.id))
        writer = DocumentWriter(self._limit)
        writer.field("format", agent_file.FORMAT)
        writer.field("version", agent_file.VERSION)
        writer.field("exported_at", datetime.now(UTC).isoformat())
        writer.field("agent", agent_file.agent_json(agent))
        writer.field("blocks", [agent_file.block_json(b) for b in snapshot.blocks])
        writer.field("tools", [agent_file.tool_json(t) for t in tools])
        if messages:
            evicted = 0

            async def history() -> AsyncIterator[list[dict]]:
                nonlocal evicted
                # Up to the newest message when the export began: a run going on meanwhile adds
                # messages after it, never a half step.
                async for page in self._memory.messages(agent.id, before_seq=snapshot.last_seq + 1):
                    evicted += sum(1 for m in page if m.seq <= snapshot.boundary_seq)
                    yield [agent_file.message_json(m) for m in page]

            await writer.array("messages", history())
            writer.field("context", {"summary": snapshot.summary, "evicted_messages": evicted})
        if passages:
            await writer.array("passages", self._passages(agent.archive_id))
        return writer.finish()

    async def _tool_definitions(self, agent: Agent) -> list[FileTool]:
        found = await asyncio.gather(
            *(self._tools.definition(t) for t in agent.tool_ids), return_exceptions=True
        )
        for tool_id, tool in zip(agent.tool_ids, found, strict=True):
            if isinstance(tool, NotFound):
                raise FailedPrecondition(
                    f"the agent's tool {tool_id} no longer exists; detach it (UpdateAgent tool_ids) "
                    "and export again",
                    reason="TOOL_MISSING",
                )
            if isinstance(tool, BaseException):
                raise tool
        return list(found)

    async def _passages(self, archive_id: str) -> AsyncIterator[list[dict]]:
        if not archive_id:
            return
        async for page in self._memory.passages(archive_id):
            yield [agent_file.passage_json(p) for p in page]

    # --- import ------------------------------------------------------------------------------

    async def import_agent(self, tenant: str, document_json: str, *, name_override: str = "") -> Agent:
        """A new agent made from ``document_json``; INVALID_ARGUMENT naming the document's bad
        fields by JSON path."""
        # A large document takes a while to parse: in a thread, other calls are served meanwhile.
        document = await asyncio.to_thread(
            parse_document, document_json, limit=self._limit, name_override=name_override
        )
        spec = document.spec
        self._check(spec, [tool.name for tool in document.tools], name_override=bool(name_override))
        # One tool after the other: a tool the tools service refuses stops the import before the
        # next one is made.
        placed = [await self._place_tool(tool, index) for index, tool in enumerate(document.tools)]
        renames = {tool.name: name for tool, (_, name) in zip(document.tools, placed, strict=True)}
        spec = replace(
            spec,
            tool_ids=tuple(tool_id for tool_id, _ in placed),
            tool_rules=_renamed(spec.tool_rules, renames),
        )
        agent = await self._store.create(tenant, spec)
        try:
            try:
                agent = await self._lifecycle.set_up_memory(tenant, agent, document.blocks)
            except InvalidArgument as exc:  # memory refused a block: name it in the document
                _raise_in_document(exc.violations or [FieldViolation("blocks", exc.message)])
            await self._restore_history(agent.id, document)
            if document.passages:
                await self._restore_passages(agent.archive_id, document.passages)
        except BaseException:
            # Leave no half-imported agent behind, also when the import was cancelled or ran out of
            # time (the clean-up gets time of its own); the caller sees the first failure.
            cleanup = asyncio.ensure_future(self._forget(tenant, agent.id))
            try:
                await asyncio.shield(cleanup)
            except BaseException:
                pass  # cancelled again: the clean-up goes on by itself
            raise
        return agent

    async def _forget(self, tenant: str, agent_id: str) -> None:
        enter_call(replace(current_call(), deadline=None))
        try:
            await self._lifecycle.delete(tenant, agent_id)
        except Exception:
            log.warning("could not delete a half-imported agent", extra={"agent_id": agent_id})

    def _check(self, spec: AgentSpec, tool_names: list[str], *, name_override: bool) -> None:
        """The document's agent checked like any agent's, before anything is made; its rules may
        name the document's tools."""
        check = Validation()
        spec.record_violations(check)
        self._models.check(spec.model, check)
        stand_ins = [str(index) for index in range(len(tool_names))]
        check_attached_tools(
            replace(spec, tool_ids=tuple(stand_ins)), dict(zip(stand_ins, tool_names, strict=True)), check
        )
        violations = [
            FieldViolation("name_override", v.description) if name_override and v.field == "agent.name" else v
            for v in check.violations
        ]
        _raise_in_document(violations)

    async def _place_tool(self, tool: FileTool, index: int) -> tuple[str, str]:
        """The tenant's id of ``tool`` and its name there. The tenant's tool of the same name and
        source is reused; otherwise the tool is created, under a suffixed name (``lookup_2``) when
        the tenant has another tool of its name: the first free one, or the first with this source
        (so importing a document twice reuses the renamed tool)."""
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            name = tool.name if attempt == 1 else _suffixed(tool.name, attempt)
            existing = await self._tools.find(name)
            if existing is not None:
                tool_id, found = existing
                if _same_behaviour(found, tool):
                    return tool_id, name
                continue
            try:
                return await self._tools.create(_named(tool, name)), name
            except InvalidArgument as exc:  # the tools service refused the definition
                _raise_in_document(
                    [
                        FieldViolation(v.field.replace("tool.", f"tools[{index}].", 1), v.description)
                        for v in exc.violations or [FieldViolation(f"tools[{index}]", exc.message)]
                    ]
                )
            except AlreadyExists:  # created concurrently: look again
                existing = await self._tools.find(name)
                if existing is not None and existing[1].source_code == tool.source_code:
                    return existing[0], name
        raise AlreadyExists(
            f"tool {tool.name!r} and {MAX_NAME_ATTEMPTS - 1} suffixed names are taken by other tools",
            reason="TOOL_NAME_TAKEN",
        )

    async def _restore_history(self, agent_id: str, document: AgentFile) -> None:
        if not document.messages:
            return
        seqs: list[int] = []
        for number, batch in enumerate(_batches(document.messages, MESSAGES_PER_APPEND, _message_chars)):
            seqs += await self._memory.append(agent_id, key=f"import:{number}", messages=batch)
        if document.evicted_messages or document.summary:
            boundary = seqs[document.evicted_messages - 1] if document.evicted_messages else 0
            await self._memory.set_boundary(agent_id, boundary_seq=boundary, summary=document.summary)

    async def _restore_passages(self, archive_id: str, passages: Sequence[FilePassage]) -> None:
        # Oldest first, as they were inserted.
        for batch in _batches(passages[::-1], PASSAGES_PER_INSERT, lambda p: len(p.text)):
            await self._memory.insert_passages(archive_id, batch)


def _raise_in_document(violations: Sequence[FieldViolation]) -> None:
    """Raise the violations of an agent's fields with the document's paths."""
    check = Validation()
    for v in violations:
        field = v.field if v.field == "name_override" else f"{ROOT}.{v.field}"
        check.check(False, field, v.description)
    check.raise_if_any()


def _same_behaviour(found: FileTool, wanted: FileTool) -> bool:
    """Whether the tenant's tool behaves as the document's: same code, same schema (when the
    document gives one) and the same flags (a tool that must wait for approval must not be
    replaced by one that does not)."""
    return (
        found.source_code == wanted.source_code
        and (wanted.json_schema is None or _unnamed(found.json_schema) == _unnamed(wanted.json_schema))
        and found.parallel_safe == wanted.parallel_safe
        and found.requires_approval == wanted.requires_approval
        and found.result_char_limit == wanted.result_char_limit
        and found.timeout_seconds == wanted.timeout_seconds
    )


def _unnamed(schema: dict | None) -> dict | None:
    """A function schema without its name (a reused tool may carry a suffixed one)."""
    return None if schema is None else {key: value for key, value in schema.items() if key != "name"}


def _renamed(rules: Sequence[ToolRule], names: dict[str, str]) -> tuple[ToolRule, ...]:
    return tuple(
        replace(
            rule,
            tool_name=names.get(rule.tool_name, rule.tool_name),
            children=tuple(names.get(child, child) for child in rule.children),
        )
        for rule in rules
    )


def _suffixed(name: str, number: int) -> str:
    suffix = f"_{number}"
    return name[: 64 - len(suffix)] + suffix


def _named(tool: FileTool, name: str) -> FileTool:
    if name == tool.name:
        return tool
    schema = None if tool.json_schema is None else {**tool.json_schema, "name": name}
    return replace(tool, name=name, json_schema=schema)


def _message_chars(message: FileMessage) -> int:
    return (
        len(message.content)
        + len(message.reasoning)
        + sum(len(c.arguments) + len(c.name) for c in message.tool_calls)
        + 200
    )


def _batches(items: Sequence, count: int, weight) -> list[list]:
    """``items`` cut into batches of at most ``count`` items and :data:`BATCH_CHARS` (a single
    heavier item makes a batch of its own)."""
    batches: list[list] = []
    batch: list = []
    size = 0
    for item in items:
        cost = weight(item)
        if batch and (len(batch) >= count or size + cost > BATCH_CHARS):
            batches.append(batch)
            batch, size = [], 0
        batch.append(item)
        size += cost
    if batch:
        batches.append(batch)
    return batches
