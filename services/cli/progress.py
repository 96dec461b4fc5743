"""Progress bars for long work (inserting passages, importing and exporting agents): rich's, with the
rate and the time left, on stderr, and only when a person watches (never with ``--json`` or when
stderr is not a terminal)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from services.cli.console import Output


class RateColumn(ProgressColumn):
    """Items per second, in the task's own unit (``1,234 passages/s``)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "items")
        return Text(f"{speed:,.0f} {unit}/s" if speed else f"- {unit}/s", style="progress.data.speed")


class Bar:
    """One bar: ``advance(n)`` as work is done. Without a total it is a spinner with the time
    spent (one long call: an export, an import)."""

    def __init__(self, progress: Progress | None, task: int | None):
        self._progress = progress
        self._task = task

    def advance(self, amount: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, amount)

    def set_total(self, total: float | None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=total)

    def describe(self, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=description)


@contextmanager
def progress_bar(
    output: Output, description: str, *, total: float | None, unit: str = "items"
) -> Iterator[Bar]:
    """A bar on stderr while the block runs; a bar that draws nothing when no person watches."""
    if not output.interactive:
        yield Bar(None, None)
        return
    columns = (
        [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeRemainingColumn(),
        ]
        if total
        else [SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
    )
    with Progress(*columns, console=output.err, transient=False) as progress:
        task = progress.add_task(description, total=total, unit=unit)
        yield Bar(progress, task)
