"""The gan stage's error family: a run, checkpoint or generator that cannot be used
(CheckpointError) and bad input to training (TrainError, gan/config.py)."""

from nonesuch.errors import NonesuchError


class GanError(NonesuchError):
    """Something the gan stage cannot use; the message names the file or option and the problem."""


class CheckpointError(GanError):
    """A run, checkpoint or generator that cannot be used; the message names the file and the
    problem."""
