"""CLI verbs of the data stage: datasets, ingest, info, show (registered by nonesuch.cli)."""

from __future__ import annotations

from pathlib import Path

import typer

from nonesuch.progress import console, progress_bar

datasets_app = typer.Typer(no_args_is_help=True, help="Render or fetch bundled datasets.")


@datasets_app.command("openmoji")
def openmoji_command(
    out: Path = typer.Option(..., "--out", help="Folder to write <group>/<hexcode>.png into."),
    size: int = typer.Option(128, "--size", help="Canvas size in pixels."),
    group: list[str] = typer.Option(None, "--group", help="Only these groups (e.g. animals-nature)."),
) -> None:
    """Render the OpenMoji emoji set (CC BY-SA 4.0), one sub-folder per Unicode emoji group."""
    from nonesuch.data.openmoji import render_openmoji

    with progress_bar("rendering OpenMoji", None) as advance:
        counts = render_openmoji(out, size, groups=group or None, progress=lambda n, total: advance(n))
    for name, n in counts.items():
        console.print(f"{name:>16}  {n}")
    console.print(f"{sum(counts.values())} emoji in {out} (license: {out / 'LICENSE.txt'})")


def register(app: typer.Typer) -> None:
    app.add_typer(datasets_app, name="datasets")
