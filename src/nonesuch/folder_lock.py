"""One writer per folder: a dataset, run, registry or site is written by one process at a time.

    with FolderLock(out, what="ingest"):
        ...  # only this process writes under `out`

A second process asking for the same folder gets FolderLockedError at once, with one line naming
the holder (pid, host, command, since when), so two `ingest` runs into one --out can no longer
interleave their rows and pixels. `wait_s` lets a short writer (a registry append) wait its turn
instead.

How: a POSIX record lock (fcntl.lockf) on `<folder>/.nonesuch-lock`, whose content says who holds
it. The kernel drops the lock when the holder dies, however it dies (SIGKILL, power cut of a
client), so a dead holder never blocks anyone; the next process takes the lock over and says whose
it was. POSIX locks, not flock(): they belong to the process, not to the open file, so forked
workers (decoders, data loaders) that outlive a killed parent do not keep the folder locked.
Their one pitfall, that closing ANY descriptor of the file in the holder drops the lock, is why
the holder never opens the file a second time (see _held) and why the file is read only by
processes that do not hold it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shlex
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

LOCK_NAME = ".nonesuch-lock"
_POLL_S = 0.1

# (st_dev, st_ino) of the folders this process holds: a second FolderLock on one of them in the
# same process would succeed silently (POSIX locks do not conflict within a process), and its
# release would drop the first one's lock. Refused instead.
_held: set[tuple[int, int]] = set()


class FolderLockedError(Exception):
    """The folder is being written by another process; str(e) is one line naming it."""


def _note_on_stderr(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def _command_line() -> str:
    argv = list(sys.argv)
    if argv and (argv[0].endswith("__main__.py") or Path(argv[0]).name == "nonesuch"):
        argv[0] = "nonesuch"
    command = shlex.join(argv)
    return command if len(command) <= 200 else command[:197] + "..."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def describe_holder(holder: dict) -> str:
    """'pid 123 on host, `nonesuch ingest a --out d`, since 2026-12-03 07:30:00 UTC'."""
    if not holder:
        return "a process that has not said who it is yet"
    return (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
            f"`{holder.get('command', '?')}`, since {holder.get('since', '?')}")


def read_holder(folder: str | os.PathLike) -> dict:
    """Who holds (or last held) the folder's lock, as its lock file says; {} when unknown.
    Never call this from the process that holds the lock (it would drop it; see the module doc)."""
    try:
        text = (Path(folder) / LOCK_NAME).read_text(encoding="utf-8", errors="replace")
        holder = json.loads(text) if text.strip() else {}
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


class FolderLock:
    """Exclusive write access to `folder` (created if missing) for the life of the `with` block.

    what:   what this process does there ('ingest', 'train', 'publish'), for the holder line
    wait_s: how long to wait for another holder to finish before refusing (0: refuse at once)
    note:   where the one-line note about taking over a dead holder's lock goes
    """

    def __init__(self, folder: str | os.PathLike, what: str, wait_s: float = 0.0,
                 note: Callable[[str], None] = _note_on_stderr):
        self.folder = Path(folder)
        self.what = what
        self.wait_s = wait_s
        self.note = note
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None
        self._key: tuple[int, int] | None = None
        self._pid = 0

    # -- acquire ---------------------------------------------------------------------------

    def acquire(self) -> FolderLock:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise FolderLockedError(f"{self.folder}: is a file, not a folder") from None
        except OSError as e:
            raise FolderLockedError(f"{self.folder}: cannot create the folder ({e.strerror or e})") from None
        key = self._folder_key()
        if key in _held:
            raise FolderLockedError(f"{self.folder}: already being written by this process "
                                    f"(pid {os.getpid()}); one writer per folder")
        deadline = time.monotonic() + self.wait_s
        while True:
            fd = self._open()
            if self._try_lock(fd) and self._still_the_lock_file(fd):
                break
            os.close(fd)  # not ours (held, or the file was replaced under us): look again
            if time.monotonic() >= deadline:
                holder = read_holder(self.folder)
                raise FolderLockedError(
                    f"{self.folder}: in use by another nonesuch {holder.get('what', 'process')} "
                    f"({describe_holder(holder)}); wait for it to finish or stop it")
            time.sleep(_POLL_S)
        previous = self._read_own(fd)
        self._fd, self._key, self._pid = fd, key, os.getpid()
        _held.add(key)
        self._write_holder()
        if previous.get("pid"):
            alive = previous.get("host") == socket.gethostname() and _pid_alive(int(previous["pid"]))
            state = "still running but no longer holding it" if alive else "no longer running"
            self.note(f"{self.folder}: took over the lock left by {describe_holder(previous)} ({state})")
        return self

    def _folder_key(self) -> tuple[int, int]:
        st = self.folder.stat()
        return st.st_dev, st.st_ino

    def _open(self) -> int:
        try:
            # O_NOFOLLOW: a symlink planted at the lock path must not make us write elsewhere.
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise FolderLockedError(f"{self.path}: is a symbolic link; remove it") from None
            raise FolderLockedError(f"{self.folder}: cannot write here ({e.strerror or e})") from None

    @staticmethod
    def _try_lock(fd: int) -> bool:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EAGAIN):
                return False
            raise

    def _still_the_lock_file(self, fd: int) -> bool:
        """A releasing holder unlinks the file; a process that opened the old file before that and
        then got its lock holds a lock nobody else can see. Only the file at the path counts."""
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        own = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)

    @staticmethod
    def _read_own(fd: int) -> dict:
        """The previous holder's record, read through our own descriptor (see the module doc)."""
        os.lseek(fd, 0, os.SEEK_SET)
        data = b""
        while chunk := os.read(fd, 65536):
            data += chunk
        try:
            holder = json.loads(data.decode("utf-8", "replace")) if data.strip() else {}
        except ValueError:
            return {}
        return holder if isinstance(holder, dict) else {}

    def _write_holder(self) -> None:
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "what": self.what,
                  "command": _command_line(),
                  "since": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
        # ensure_ascii: a command line holding undecodable bytes (surrogates) still writes.
        data = json.dumps(holder, ensure_ascii=True).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    # -- release ---------------------------------------------------------------------------

    def release(self) -> None:
        if self._fd is None or os.getpid() != self._pid:
            return  # not held, or a forked child that inherited the object: the parent releases
        try:
            self.path.unlink(missing_ok=True)  # while still locked: see _still_the_lock_file
        except OSError:
            os.ftruncate(self._fd, 0)  # read-only folder now: at least say nobody holds it
        finally:
            os.close(self._fd)  # drops the lock
            _held.discard(self._key)
            self._fd = self._key = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


__all__ = ["FolderLock", "FolderLockedError", "LOCK_NAME", "describe_holder", "read_holder"]
