"""Where ingest's images come from: folders, single files, zip and tar archives.

Two passes, so the run knows its total (for the progress bar's ETA) and its order before it
decodes anything:

    list_entries(paths)  -> [SourceEntry]   names only, in a fixed order; unsafe archive members
                                            come back with `problem` set and are never read
    read_entries(entries) -> (entry, payload) in the same order; payload is the member's bytes,
                                            or the Path of a plain file (a worker reads it)

Archives are read in memory, never unpacked to disk, so a hostile member name (`../evil.png`,
`/etc/passwd`) has nowhere to land; it is still refused, with its name, so the user learns of it.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
ZIP_SUFFIXES = (".zip",)
# Junk that file managers and archivers leave beside images; skipped without a word.
JUNK_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}
# Sidecar documents found beside images (licenses, metadata, photo-export JSON). They are not
# candidates at all, so they are not listed as rejected. Any other name is tried: content, not
# the extension, decides what an image is (a JPEG named .png is ingested, a text .png rejected).
DOCUMENT_SUFFIXES = {".txt", ".json", ".md", ".csv", ".tsv", ".xml", ".html", ".htm", ".pdf",
                     ".xmp", ".ini", ".log", ".yaml", ".yml", ".toml", ".py", ".sh", ".sqlite"}


class SourceError(Exception):
    """A SRC argument that does not exist. (A corrupt archive is recorded as rejected instead.)"""


@dataclass(frozen=True)
class ReadLimits:
    max_member_bytes: int = 512 << 20  # a single file or archive member larger than this is refused
    max_zip_ratio: float = 100.0       # uncompressed / compressed; above it a zip member is a bomb
    zip_ratio_min_bytes: int = 8 << 20  # ...but small members may compress well (flat BMPs)


@dataclass(frozen=True)
class SourceEntry:
    source: str            # the file or archive path, as given on the command line (+ folder walk)
    member: str = ""       # path inside the archive; '' for plain files
    label: str | None = None  # name of the folder the image sits in
    problem: str | None = None  # why this entry must not be read (unsafe archive member)

    @property
    def key(self) -> tuple[str, str]:
        return self.source, self.member


def archive_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(ZIP_SUFFIXES):
        return "zip"
    if name.endswith(TAR_SUFFIXES):
        return "tar"
    return None


def _archive_stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(TAR_SUFFIXES + ZIP_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _is_junk(parts: Iterable[str]) -> bool:
    parts = list(parts)
    return (any(p.startswith(".") or p in JUNK_NAMES for p in parts)
            or PurePosixPath(parts[-1]).suffix.lower() in DOCUMENT_SUFFIXES)


def _member_problem(name: str) -> str | None:
    """Why an archive member name is unsafe to use as a path, or None."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return f"unsafe archive member: {name} (absolute path)"
    if ".." in posix.parts:
        return f"unsafe archive member: {name}"
    return None


def _member_label(archive: Path, member: str) -> str:
    parent = PurePosixPath(member.replace("\\", "/")).parent.name
    return parent or _archive_stem(archive)


# ---- pass 1: list -----------------------------------------------------------------------------

def _list_zip(path: Path, limits: ReadLimits) -> Iterator[SourceEntry]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        yield SourceEntry(str(path), "", path.parent.name, f"unreadable zip archive: {e}")
        return
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = info.filename
            label = _member_label(path, name)
            problem = _member_problem(name)
            mode = info.external_attr >> 16
            if problem is None and stat.S_ISLNK(mode):
                problem = f"unsafe archive member: {name} (symbolic link)"
            if problem is None and info.file_size > limits.max_member_bytes:
                problem = f"too large: {name} is {info.file_size} bytes > {limits.max_member_bytes}"
            if (problem is None and info.file_size > limits.zip_ratio_min_bytes
                    and info.file_size > limits.max_zip_ratio * max(info.compress_size, 1)):
                ratio = info.file_size / max(info.compress_size, 1)
                problem = f"unsafe archive member: {name} (zip bomb: compression ratio {ratio:.0f}:1)"
            if problem is None and _is_junk(PurePosixPath(name).parts):
                continue
            yield SourceEntry(str(path), name, label, problem)


def _list_tar(path: Path, limits: ReadLimits) -> Iterator[SourceEntry]:
    try:
        with tarfile.open(path, "r:*") as archive:
            yield from _list_tar_members(path, archive, limits)
    except (tarfile.TarError, OSError, EOFError) as e:
        # Members listed before the damage are kept; the archive itself is recorded as unreadable.
        yield SourceEntry(str(path), "", path.parent.name, f"unreadable tar archive: {e}")


def _list_tar_members(path: Path, archive: tarfile.TarFile, limits: ReadLimits) -> Iterator[SourceEntry]:
    for info in archive:
        if info.isdir():
            continue
        name = info.name
        problem = _member_problem(name)
        if problem is None and (info.issym() or info.islnk()):
            kind = "symbolic link" if info.issym() else "hard link"
            problem = f"unsafe archive member: {name} ({kind} to {info.linkname})"
        elif problem is None and not info.isfile():
            problem = f"unsafe archive member: {name} (device or fifo)"
        if problem is None and info.size > limits.max_member_bytes:
            problem = f"too large: {name} is {info.size} bytes > {limits.max_member_bytes}"
        if problem is None and _is_junk(PurePosixPath(name).parts):
            continue
        yield SourceEntry(str(path), name, _member_label(path, name), problem)


def _list_folder(folder: Path, exclude: Path | None, limits: ReadLimits) -> Iterator[SourceEntry]:
    # sorted() on the relative path: the same tree lists in the same order on every machine.
    for path in sorted(p for p in folder.rglob("*") if not p.is_dir()):
        rel = path.relative_to(folder)
        if _is_junk(rel.parts):
            continue
        if exclude is not None and path.resolve().is_relative_to(exclude):
            continue  # never read our own output when --out sits inside a source folder
        yield from _list_path(path, exclude, limits)


def _list_path(path: Path, exclude: Path | None, limits: ReadLimits) -> Iterator[SourceEntry]:
    if path.is_symlink() and not path.exists():
        yield SourceEntry(str(path), "", path.parent.name, f"broken symbolic link: {path}")
        return
    kind = archive_kind(path)
    if kind == "zip":
        yield from _list_zip(path, limits)
    elif kind == "tar":
        yield from _list_tar(path, limits)
    else:
        yield SourceEntry(str(path), "", path.parent.resolve().name)


def list_entries(paths: Iterable[str | Path], exclude: str | Path | None = None,
                 limits: ReadLimits = ReadLimits()) -> list[SourceEntry]:
    """Every candidate image under `paths`, in order: arguments as given, folders sorted.

    exclude: a folder never to descend into (the output dataset). A (source, member) listed twice
    (the same file named by two arguments) is kept once.
    """
    exclude_path = Path(exclude).resolve() if exclude is not None else None
    entries: dict[tuple[str, str], SourceEntry] = {}
    for arg in paths:
        path = Path(arg)
        if not path.exists():
            raise SourceError(f"{path}: no such file or folder")
        found = _list_folder(path, exclude_path, limits) if path.is_dir() else _list_path(path, exclude_path, limits)
        for entry in found:
            entries.setdefault(entry.key, entry)
    return list(entries.values())


# ---- pass 2: read -----------------------------------------------------------------------------

def _read_zip(path: Path, run: list[SourceEntry]) -> Iterator[tuple[SourceEntry, bytes | str]]:
    with zipfile.ZipFile(path) as archive:
        for entry in run:
            if entry.problem is not None:
                yield entry, entry.problem
                continue
            try:
                # ZipExtFile stops at the header's file_size (checked in pass 1) and checks the CRC,
                # so a member cannot inflate past what was declared.
                with archive.open(entry.member) as f:
                    yield entry, f.read()
            except (zipfile.BadZipFile, OSError, EOFError, KeyError, NotImplementedError) as e:
                yield entry, f"unreadable archive member: {entry.member} ({e})"


def _read_tar(path: Path, run: list[SourceEntry]) -> Iterator[tuple[SourceEntry, bytes | str]]:
    """`run` is in archive order (pass 1 listed it so), so one sequential pass finds every member,
    also in a .tar.gz/.xz, which cannot seek cheaply."""
    with tarfile.open(path, "r|*") as archive:
        stream = iter(archive)
        for entry in run:
            if entry.problem is not None:
                yield entry, entry.problem
                continue
            try:
                for info in stream:
                    if info.name == entry.member and info.isfile():
                        f = archive.extractfile(info)
                        yield entry, f.read() if f is not None else b""
                        break
                else:
                    yield entry, f"unreadable archive member: {entry.member} (missing on second read)"
            except (tarfile.TarError, OSError, EOFError) as e:
                yield entry, f"unreadable archive member: {entry.member} ({e})"


def read_entries(entries: list[SourceEntry]) -> Iterator[tuple[SourceEntry, bytes | Path | str]]:
    """(entry, payload) for every entry, in order. payload: bytes of an archive member, the Path
    of a plain file, or a one-line reason string when it must not or cannot be read."""
    i = 0
    while i < len(entries):
        entry = entries[i]
        if not entry.member:
            yield entry, entry.problem if entry.problem is not None else Path(entry.source)
            i += 1
            continue
        # A run of consecutive members of one archive: open it once.
        j = i
        while j < len(entries) and entries[j].source == entry.source and entries[j].member:
            j += 1
        path = Path(entry.source)
        reader = _read_zip if archive_kind(path) == "zip" else _read_tar
        yield from reader(path, entries[i:j])
        i = j
