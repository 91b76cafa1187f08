"""Atomic file writes: a reader never sees half a file, an interrupted run leaves no torn output.

Write to a temporary file in the same folder, flush it to disk, then rename over the target
(rename within one filesystem is atomic on POSIX).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

# mkstemp makes 0600 files; outputs should get the mode a plain open() would give them.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


class NotAFileError(FileExistsError):
    """The target exists and is a device, pipe, socket or folder: nothing was written (see
    _refuse_to_replace_a_non_file). The CLI reports it in one line, whichever verb met it."""


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success rename it to `target`.

    durable=False skips the fsync: the rename still means no reader sees a torn file after a
    crash of this process, but a power cut may lose it. Worth it for many small outputs,
    where fsync costs ~10 ms a file."""
    target = Path(target)
    _refuse_to_replace_a_non_file(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, FILE_MODE)  # before the caller writes: it may chmod tighter (private keys)
    try:
        yield tmp_path
        if durable:
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def _refuse_to_replace_a_non_file(target: Path) -> None:
    """The rename puts a new file in the target's place, whatever it was: run as root,
    `--memorisation-png /dev/null` replaced the device with a PNG. Only a regular file (or a link,
    which is replaced, not followed) may be replaced; anything else is refused before any work."""
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError:
        return  # unreadable parent etc.: the write itself reports it
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        kind = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or socket"
        raise NotAFileError(f"{target}: exists and is {kind}, not a file; it was left as it is")


def write_bytes(target: str | os.PathLike, data: bytes, durable: bool = True) -> None:
    with atomic_path(target, durable) as tmp:
        tmp.write_bytes(data)


def write_json(target: str | os.PathLike, obj, durable: bool = True) -> None:
    write_bytes(target, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode(), durable)


def swap_folder_into_place(staging: Path, out: Path) -> None:
    """Replace folder `out` by the finished `staging` folder with two renames: the old one moves
    aside, the new one takes its name, then the old one is deleted. Between the renames `out` is
    missing for an instant (a server answers 404), never half-written."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
