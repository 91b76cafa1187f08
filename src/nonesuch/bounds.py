"""The ranges a command-line number must fall in, checked before any work, in one wording for
every verb: `--option must be from LOW to HIGH, got VALUE`.

    check_range("--port", port, 1, 65535)      # ints and floats, both ends included
    check_range("--budget", budget, 1)         # no upper end: "must be at least 1"
    check_positive("--lr", lr)                 # a finite float above 0
    check_port("--port", port)                 # a TCP port a server can bind: 1..65535

nan and inf are refused everywhere: a nan passes no comparison, so a check written as
`if value < 0: refuse` lets it through, and it then reaches a loop bound or an int() as a crash
or a command that never ends (`--minutes nan` trained forever).
"""

from __future__ import annotations

import math


def _finite(value: int | float) -> bool:
    # Python ints are always finite, and math.isfinite cannot convert one past 1e308.
    return not isinstance(value, float) or math.isfinite(value)


def check_range(option: str, value: int | float, low: int | float, high: int | float | None = None,
                unit: str = "") -> None:
    """low <= value <= high (no upper end when high is None), finite; ValueError otherwise."""
    if _finite(value) and low <= value and (high is None or value <= high):
        return
    if high is None:
        raise ValueError(f"{option} must be at least {low}{unit}, got {value}")
    raise ValueError(f"{option} must be from {low} to {high}{unit}, got {value}")


def check_positive(option: str, value: float, high: float | None = None) -> None:
    """A finite number above 0 (and at most high, if given): rates, durations, budgets in kimg."""
    if _finite(value) and value > 0 and (high is None or value <= high):
        return
    most = "" if high is None else f" and at most {high:g}"
    raise ValueError(f"{option} must be a number above 0{most}, got {value}")


def check_port(option: str, port: int) -> None:
    """A TCP port to bind, 1 to 65535. 0 (any free port) is refused too: the command prints and
    opens the address it was given, and :0 leads nowhere."""
    check_range(option, port, 1, 65535)
