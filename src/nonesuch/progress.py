"""One progress bar style for every long loop: description, bar, count, rate, elapsed and ETA."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)

# Progress and messages go to stderr so `--json` output on stdout stays machine-readable.
console = Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int | None, disable: bool = False) -> Iterator:
    """Yields advance(n=1) for a bar with ETA; silent when disabled or stderr is not a terminal
    (CI logs stay clean)."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TaskProgressColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=console, disable=disable or not sys.stderr.isatty(), transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
