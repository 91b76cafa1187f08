"""The ranges a command-line number must fall in, checked before any work, in one wording for
every verb: `--option must be from LOW to HIGH, got VALUE`; and the places an --out or a server
address may point, checked the same way.

    check_range("--port", port, 1, 65535)      # ints and floats, both ends included
    check_range("--budget", budget, 1)         # no upper end: "must be at least 1"
    check_positive("--lr", lr)                 # a finite float above 0
    check_port("--port", port)                 # a TCP port a server can bind: 1..65535
    check_listen_address(host, port)           # ... and free to bind on that host, now
    check_output_folder("--out", out)          # a folder that is there or can be made
    check_output_file("--out", out)            # a file to write (or replace), not a folder or device

nan and inf are refused everywhere: a nan passes no comparison, so a check written as
`if value < 0: refuse` lets it through, and it then reaches a loop bound or an int() as a crash
or a command that never ends (`--minutes nan` trained forever).
"""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path


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


def check_listen_address(host: str, port: int) -> None:
    """--host and --port a server can listen on, tried before the generator is loaded: an empty
    host silently listened on every interface, and an unknown host or a port in use ended, after
    all the work, in uvicorn's multi-line log and exit status 3."""
    check_port("--port", port)
    if not host.strip():
        raise ValueError("--host is empty; give an address such as 127.0.0.1 (0.0.0.0 exposes it to the network)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as uvicorn does
            probe.bind(address)
    except (OSError, UnicodeError) as error:   # UnicodeError: a host name IDNA cannot encode
        raise ValueError(f"--host {host} --port {port}: cannot listen there "
                         f"({getattr(error, 'strerror', None) or error})") from None


def _first_existing(path: Path) -> Path:
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def check_output_folder(option: str, path: str | os.PathLike) -> None:
    """A folder to write into that is there or can be made: not an empty name (which is the
    current folder), not a file, no file in the way above it, and writable."""
    if not str(path):
        raise ValueError(f"{option} is empty; give a folder")
    path = Path(path)
    existing = _first_existing(path)
    if not existing.is_dir():
        where = "exists and is" if existing == path else f"cannot be made: {existing} is"
        raise ValueError(f"{option} {path}: {where} not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: {existing} is not writable")


def check_output_file(option: str, path: str | os.PathLike) -> None:
    """A file to write by rename (nonesuch.atomic): a regular file or nothing there yet. The
    rename would put a new file in the place of a device: run as root, `--memorisation-png
    /dev/null` replaced /dev/null with a PNG."""
    if not str(path):
        raise ValueError(f"{option} is empty; give a file name")
    path = Path(path)
    if os.path.lexists(path) and not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file"
        raise ValueError(f"{option} {path}: is {kind}; give a file name")
    check_output_folder(option, path.parent)
