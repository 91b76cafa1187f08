"""The terminal output, all on stderr: one progress bar style for every long loop (description, bar,
count, rate, elapsed and ETA) and one-line errors for every CLI verb."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)

from nonesuch.names import printable

# Progress and messages go to stderr so `--json` output on stdout stays machine-readable.
# Piped or redirected (CI logs, `2>&1 | grep`), lines are never wrapped at rich's default 80
# columns: a path, a reason or a training log line stays whole on its line.
# Messages hold user-chosen text (paths, file names, target specs), so rich reads none of it as
# markup or emoji unless a call says markup=True and escapes what it interpolates: an --out named
# `a[/]b` made every verb's last line a MarkupError traceback after the work was done, and a spec
# like imagenet:lemon:... printed as 🍋.
console = Console(stderr=True, soft_wrap=not sys.stderr.isatty(), markup=False, emoji=False)


@contextmanager
def progress_bar(description: str, total: int | None, disable: bool = False) -> Iterator:
    """Yields advance(n=1) for a bar with ETA; silent when disabled or stderr is not a terminal
    (CI logs stay clean)."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TaskProgressColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=console, disable=disable or not sys.stderr.isatty(), transient=False,
    ) as bar:
        # The description may hold a name: "[bold]{task.description}" would read its brackets as markup.
        task = bar.add_task(escape(printable(description)), total=total)
        yield lambda n=1: bar.advance(task, n)


def print_error(message: str | Exception) -> None:
    """One line on stderr, `error: <message>`, never wrapped (paths stay copyable and greppable)
    and never read as rich markup (brackets in paths are printed as they are); a name's control
    characters and undecodable bytes are escaped (names.printable). A library error naming the
    config field at fault (NonesuchError.option) is prefixed with that field's flag."""
    option = getattr(message, "option", None)
    text = f"--{option.replace('_', '-')}: {message}" if option else str(message)
    console.print(f"[red]error:[/red] {escape(printable(text))}", soft_wrap=True, highlight=False, markup=True)


def print_warning(message: str | Exception) -> None:
    """One line on stderr, `warning: <message>`, like print_error: for what a run works around
    (a damaged checkpoint passed over) but a person must not miss."""
    console.print(f"[yellow]warning:[/yellow] {escape(str(message))}", soft_wrap=True, highlight=False,
                  markup=True)


def fail(message: str | Exception) -> NoReturn:
    """print_error, then exit 1: how every CLI verb reports a user-facing error."""
    import typer  # only the CLI fails; library code importing this module does not need typer

    print_error(message)
    raise typer.Exit(1)
