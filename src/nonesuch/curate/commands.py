"""CLI verbs of this stage (registered by nonesuch.cli). Keep imports of heavy libraries inside
the verb functions so `nonesuch --help` stays fast."""

import typer


def register(app: typer.Typer) -> None:
    pass
