"""How far a long job (import, export) is: a rich progress bar on a terminal, and one summary
line at the end either way, so a piped or logged run gets a single line and no bar.

    with Job("Exporting orders", unit="orders") as job:
        n = export_csv(depot, path, progress=job.progress)
    job.done(f"Exported {n:,} orders to {path}")   # "… in 41 s."
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..text import clean


def console() -> Console:
    """The console a bar is drawn on: standard error (the data may be on standard output)."""
    return Console(file=sys.stderr)


def took(seconds: float) -> str:
    """A duration in words for the summary line: 0.4 s, 41 s, 3 min 5 s."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


class Job:
    """A bar on standard error when it is a terminal (and ``quiet`` is not set: the data is
    going to that terminal), nothing while it runs otherwise; ``done`` prints the summary."""

    def __init__(self, what: str, *, unit: str, quiet: bool = False, on: Console | None = None) -> None:
        self.what, self.unit = what, unit
        self.console = on or console()
        self.bar: Progress | None = None
        if not quiet and self.console.is_terminal:
            count = MofNCompleteColumn() if unit != "bytes" else TaskProgressColumn()
            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), count, TextColumn(unit if unit != "bytes" else ""),
                TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=True,
            )
            self.task = self.bar.add_task(clean(what, single_line=True, limit=40), total=None)
        self.started = time.perf_counter()

    def __enter__(self) -> Job:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.bar is not None:
            self.bar.stop()

    def progress(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=max(total, done, 1))

    def done(self, sentence: str, *, to: TextIO | None = None) -> None:
        """``sentence`` and the time taken, as one line (to standard output unless ``to``)."""
        line = f"{sentence} in {took(time.perf_counter() - self.started)}."
        print(clean(line, single_line=True), file=to or sys.stdout)
