"""How every command speaks: results on stdout, as a table with headers for people or as JSON for
scripts (``--json``); notes, warnings and errors on stderr; progress bars only on a terminal.

Tables and progress bars are rich's. JSON is the contract's own JSON mapping of each message
(field names as in the protos), so a script sees every field, also those no table shows.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

PIPE_WIDTH = 10_000
"""Width of output to a pipe or a file: no cell is cut or wrapped for a script to miss (rich would
assume 80 columns)."""


@dataclass(frozen=True)
class Column:
    """One column of a table: its header and how to get its text from a row."""

    header: str
    value: Callable[[Any], object]
    wrap: bool = False
    """Long values wrap inside the column (text); otherwise they are cut with an ellipsis."""


def as_data(item: Any) -> Any:
    """``item`` as plain JSON data: protobuf messages by the contract's JSON mapping (proto field
    names), dataclass-likes by their mappings, the rest as is."""
    if isinstance(item, Message):
        return json_format.MessageToDict(item, preserving_proto_field_name=True)
    if isinstance(item, Mapping):
        return {key: as_data(value) for key, value in item.items()}
    if isinstance(item, list | tuple):
        return [as_data(value) for value in item]
    return item


class Output:
    """Where a command's results and messages go; one per command run."""

    def __init__(self, *, json_mode: bool, stdout=None, stderr=None):
        self.json_mode = json_mode
        self._stdout = stdout or sys.stdout
        self._stderr = stderr or sys.stderr
        self.out = Console(file=self._stdout, width=_width(self._stdout), highlight=False, soft_wrap=False)
        self.err = Console(file=self._stderr, width=_width(self._stderr), highlight=False, soft_wrap=True)

    @property
    def interactive(self) -> bool:
        """Whether a person watches stderr (progress bars and prompts make sense)."""
        return not self.json_mode and self._stderr.isatty()

    # -- results (stdout) -------------------------------------------------------------------

    def table(self, items: Iterable[Any], columns: Sequence[Column], *, empty: str = "") -> None:
        """Many results: a table with one row per item, or (``--json``) a JSON array of them."""
        items = list(items)
        if self.json_mode:
            self.json([as_data(item) for item in items])
            return
        if not items and empty:
            self.note(empty)
            return
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
        for column in columns:
            table.add_column(
                column.header, overflow="fold" if column.wrap else "ellipsis", no_wrap=not column.wrap
            )
        for item in items:
            table.add_row(*(escape(text(column.value(item))) for column in columns))
        self.out.print(table)

    def record(self, item: Any, fields: Sequence[Column]) -> None:
        """One result: a two-column table (field, value), or (``--json``) its JSON object."""
        if self.json_mode:
            self.json(as_data(item))
            return
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
        table.add_column("FIELD", no_wrap=True, style="bold")
        table.add_column("VALUE", overflow="fold")
        for field in fields:
            table.add_row(field.header, escape(text(field.value(item))))
        self.out.print(table)

    def json(self, data: Any) -> None:
        """``data`` as indented JSON on stdout."""
        self._stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        self._stdout.flush()

    def json_line(self, data: Any) -> None:
        """``data`` as one line of JSON (JSON Lines, for streams of events)."""
        self._stdout.write(json.dumps(as_data(data), ensure_ascii=False, default=str) + "\n")
        self._stdout.flush()

    def result(self, message: str, data: Any = None) -> None:
        """The one-line result of an action: ``message`` for people, ``data`` as JSON for scripts
        (nothing when there is none)."""
        if self.json_mode:
            if data is not None:
                self.json(as_data(data))
        else:
            self.out.print(escape(message))

    def text(self, value: str) -> None:
        """Plain text on stdout, as is (a block's value, a document)."""
        self._stdout.write(value if value.endswith("\n") else value + "\n")
        self._stdout.flush()

    def stream(self, text: str, *, style: str | None = None) -> None:
        """Text as it arrives (a streamed reply), on the current line."""
        self.out.print(text, end="", style=style, markup=False, highlight=False, soft_wrap=True)
        self._stdout.flush()

    def line(self, text: str, *, style: str | None = None) -> None:
        """One line of a conversation (a tool call, its result, a note in it)."""
        self.out.print(text, style=style, markup=False, highlight=False, soft_wrap=True)

    # -- messages (stderr) -----------------------------------------------------------------

    def note(self, message: str) -> None:
        """Something a person may want to know; silent with ``--json``."""
        if not self.json_mode:
            self.err.print(escape(message), style="dim")

    def warn(self, message: str) -> None:
        self.err.print(f"warning: {escape(message)}", style="yellow")

    def error(self, message: str) -> None:
        self.err.print(f"agentsuite: {escape(message)}", style="red")


def text(value: object) -> str:
    """How a value reads in a table cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, timestamp_pb2.Timestamp):
        return when(value)
    if isinstance(value, list | tuple):
        return ", ".join(text(v) for v in value)
    return str(value)


def when(stamp: timestamp_pb2.Timestamp) -> str:
    """A timestamp in the local time zone to the second; empty when unset."""
    if not stamp.seconds and not stamp.nanos:
        return ""
    moment = stamp.ToDatetime(tzinfo=UTC).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def age(stamp: timestamp_pb2.Timestamp) -> str:
    """How long ago, briefly (``42s``, ``5m``, ``3h``, ``2d``)."""
    if not stamp.seconds:
        return ""
    seconds = max(0, int((datetime.now(UTC) - stamp.ToDatetime(tzinfo=UTC)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def one_line(value: str, limit: int = 80) -> str:
    """``value`` on one line, cut to ``limit`` characters."""
    line = " ".join(value.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _width(stream) -> int | None:
    return None if stream.isatty() else PIPE_WIDTH  # a terminal's own width
