"""The `nonesuch` command: a thin typer app. Each stage registers its verbs; each verb parses its
arguments, calls that stage's Python API and prints. Stage modules import heavy libraries
(torch, onnxruntime) inside the verbs, so `nonesuch --help` stays fast."""

from __future__ import annotations

import errno
import os
import sys

import typer
from rich.markup import escape

from nonesuch.curate import commands as curate_commands
from nonesuch.data import commands as data_commands
from nonesuch.explain import commands as explain_commands
from nonesuch.gan import commands as gan_commands
from nonesuch.generate import commands as generate_commands
from nonesuch.metrics import commands as metrics_commands
from nonesuch.provenance import commands as provenance_commands
from nonesuch.web import commands as web_commands

app = typer.Typer(
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Turn a pile of images into a generator of new ones, and publish them honestly.",
)
for stage in (data_commands, curate_commands, gan_commands, metrics_commands,
              generate_commands, explain_commands, provenance_commands, web_commands):
    stage.register(app)


def _print_version(value: bool) -> None:
    if value:
        from nonesuch import __version__

        print(f"nonesuch {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Turn a pile of images into a generator of new ones, and publish them honestly."""


@app.command("doctor")
def doctor_command(
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON on stdout."),
) -> None:
    """What this install can do: device, bf16, FID network, TensorBoard, ONNX Runtime, C2PA, keys, tools."""
    import json

    from nonesuch.doctor import as_dict, header, run_checks
    from nonesuch.progress import console

    checks = run_checks()
    if as_json:
        print(json.dumps(as_dict(checks), indent=2))
        return
    console.print(header(), soft_wrap=True, highlight=False)
    for check in checks:
        mark = "[green]ok[/green]     " if check.ok else "[yellow]missing[/yellow]"
        console.print(f"{mark} {check.name:<12} {escape(check.found)}  [dim]({escape(check.needed_for)})[/dim]",
                      soft_wrap=True, highlight=False, markup=True)


@app.command("demo")
def demo_command(
    out: str = typer.Option("demo-out", "--out", help="Folder for the dataset, images and site."),
    count: int = typer.Option(1000, "--count", help="Images to generate and publish."),
    train_minutes: float = typer.Option(0.0, "--train-minutes",
                                        help="Train from scratch for N minutes instead of using the shipped generator."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve the site when it is built."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
) -> None:
    """Render the bundled emoji, ingest them, generate with the shipped generator, publish, serve."""
    from nonesuch.bounds import check_listen_address, check_output_folder, check_port, check_range
    from nonesuch.demo import MAX_TRAIN_MINUTES, DemoConfig, run_demo
    from nonesuch.errors import NonesuchError
    from nonesuch.progress import fail
    from nonesuch.web.publish import MAX_RUN_IMAGES

    try:
        check_range("--count", count, 1, MAX_RUN_IMAGES)
        check_range("--train-minutes", train_minutes, 0.0, MAX_TRAIN_MINUTES, " (0 = the shipped generator)")
        check_port("--port", port)
        check_output_folder("--out", out)
        if serve:   # the site is served at the end: an address that cannot be had is refused first
            check_listen_address(host, port)
    except ValueError as error:
        fail(error)
    try:
        run_demo(DemoConfig(out=out, count=count, train_minutes=train_minutes, serve=serve,
                            host=host, port=port))
    except NonesuchError as error:   # every stage's user errors: ingest, train, keys, publish, serve
        fail(error)

# Eager PyTorch is 1.5-1.9x faster on these machines when glibc keeps freed blocks instead of
# returning them to the kernel. glibc reads these only at process start, hence the re-exec.
FAST_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736"}


def _reexec_with_fast_malloc() -> None:
    if all(k in os.environ for k in FAST_MALLOC) or os.environ.get("NONESUCH_NO_REEXEC"):
        return
    os.environ.update(FAST_MALLOC)
    os.environ["NONESUCH_NO_REEXEC"] = "1"
    try:
        os.execv(sys.executable, [sys.executable, "-m", "nonesuch", *sys.argv[1:]])
    except OSError:
        pass  # carry on with the default allocator


try:    # what click raises for a bad command line; typer vendors its own click since 0.2x
    from typer import TyperException as COMMAND_LINE_ERROR
except ImportError:
    from click import ClickException as COMMAND_LINE_ERROR


def run_app() -> None:
    """The CLI, with every error said in one line: a mistyped command line (click's own message,
    which typer draws as a box wrapped at the terminal's width), and a full disk or an output
    whose place holds a device, pipe or folder (instead of a traceback from whichever write hit
    it). Every output is written to a temporary file and renamed, so nothing is left half-written,
    and every verb resumes: the same command finishes the work once there is space."""
    from nonesuch.atomic import NotAFileError
    from nonesuch.progress import print_error

    try:
        status = app(prog_name="nonesuch", standalone_mode=False)
    except COMMAND_LINE_ERROR as error:
        if type(error).__name__ == "NoArgsIsHelpError":    # a bare `nonesuch` or group: its help,
            sys.exit(2)                                     # which typer has printed, as click exits
        if getattr(error, "ctx", None) is not None:         # a usage error: name the verb and its help
            command = error.ctx.command_path
            print_error(f"{command}: {error.format_message()} (see {command} --help)")
        else:
            print_error(error.format_message())
        sys.exit(error.exit_code)
    except typer.Abort:                                    # Ctrl-C outside a verb's own handling
        print_error("interrupted")
        sys.exit(130)
    except NotAFileError as error:    # an output's place holds a device, pipe or folder: left alone
        print_error(error)
        sys.exit(1)
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        from pathlib import Path

        where = f" (writing in {Path(error.filename).parent})" if error.filename else ""
        print_error(f"no space left on the device{where}; free some and run the same command "
                    "again: it resumes where it stopped")
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)   # typer.Exit(code) comes back as its code


def main() -> None:
    _reexec_with_fast_malloc()
    run_app()
