"""The root of every error nonesuch raises for something a user can act on.

Each stage has one family under it: DatasetError (data), CurateError (curate), GanError (gan:
CheckpointError, TrainError), MetricsError (metrics), GenerateError (generate), ProvenanceError
(provenance), WebError (web: PublishError, ServeError). `except nonesuch.NonesuchError` catches
them all; anything else is a bug.

A message names the file or setting and the problem in the library's words (the config field,
`size`, `truncation`), never a command-line flag: the same error reaches Python callers, who
never typed one. `option` may name the config field at fault; the CLI then prints its flag.
"""

from __future__ import annotations


class NonesuchError(Exception):
    """What failed, on which file or setting, and what to do about it."""

    def __init__(self, message: str = "", *, option: str | None = None):
        super().__init__(message)
        self.option = option          # the config field at fault, e.g. "out"; None if none
