"""The gan stage's error family: a run, checkpoint or generator that cannot be used
(CheckpointError, gan/checkpoint.py) and bad input to training (TrainError, gan/config.py)."""

from nonesuch.errors import NonesuchError


class GanError(NonesuchError):
    """Something the gan stage cannot use; the message names the file or option and the problem."""
