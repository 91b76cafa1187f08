"""Where ingest's images come from: folders, single files, zip and tar archives.

Two passes, so the run knows its total (for the progress bar's ETA) and its order before it
decodes anything:

    list_entries(paths)  -> [SourceEntry]   names only, in a fixed order; entries that must not
                                            be read (unsafe members, special files, a damaged
                                            archive's tail) come back with `problem` set
    read_entries(entries) -> (entry, payload) in the same order; payload is the member's bytes,
                                            or the Path of a plain file (a worker reads it)

Archives are read in memory, never unpacked to disk, so a hostile member name (`../evil.png`,
`/etc/passwd`) has nowhere to land; it is still refused, with its name, so the user learns of it.

What a pile of downloaded files can do to a reader, and what stops it here:
    special files   a FIFO blocks open() forever, /dev/zero never ends, opening some devices has
                    side effects: only regular files are opened (stat first, then open with
                    O_NONBLOCK and fstat again), everything else is refused by kind
    sizes that lie  st_size of /proc files, zip64 and tar headers are claims: every read stops
                    at a hard byte limit however big the source says it is
    bombs           a compressed tar may unpack to at most ReadLimits.archive_budget() bytes
                    (a ratio to its size, with a floor), counted WHILE decompressing; zip
                    members are checked for size and ratio before they are inflated
    damage          a tar whose headers stop making sense mid-way is reported with the member
                    it broke after, not taken for the end of the archive
    links           symlinked folders are followed once; a link back to a folder being walked is
                    one line, not an endless walk
    member counts   every listed name costs memory (~0.2 kB), and a .tar.gz of empty members
                    packs 200,000 of them into a megabyte: one archive may hold at most
                    MAX_ARCHIVE_MEMBERS (a zip's count is read from its end records before
                    zipfile builds its ~0.5 kB ZipInfo per member), one run lists at most
                    MAX_LISTED_ENTRIES
"""

from __future__ import annotations

import bz2
import errno
import gzip
import lzma
import os
import stat
import struct
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterable, Iterator

from nonesuch.names import printable

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
                ".tar.zst", ".tzst", ".tar.lz4")  # the last three: named, so refused with a reason
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


# An image file larger than this is refused unread, by every verb that reads one a user names
# (ingest, verify, publish): a sparse file can claim 30 GB at no cost to whoever makes it.
MAX_IMAGE_FILE_BYTES = 512 << 20


class UnreadableSource(Exception):
    """A file or archive that must not or cannot be read; str(e) is the one-line reason."""


@dataclass(frozen=True)
class ReadLimits:
    max_member_bytes: int = 512 << 20  # a single file or archive member larger than this is refused
    max_ratio: float = 100.0           # uncompressed / compressed, for zip members and whole tars
    member_ratio_min_bytes: int = 8 << 20  # ...but small members may compress well (flat BMPs)
    archive_ratio_min_bytes: int = 256 << 20  # any compressed tar may unpack to this much

    def archive_budget(self, compressed_bytes: int) -> int:
        """The most bytes an archive of this size may unpack to, all members together."""
        return max(self.archive_ratio_min_bytes, int(self.max_ratio * compressed_bytes))


# A listed entry costs ~0.2 kB and is kept until the run ends; zipfile adds ~0.5 kB per member
# while it holds an archive open. Measured with 1,000,000 empty members: a .tar.gz lists in
# 0.25 GB, a 102 MB zip in 0.59 GB and is read (pass 2: zipfile's list again) in 0.74 GB. Without
# the cap a 39 MB .tar.gz of 3,000,000 listed in 1.05 GB. Archives that big are split in one command.
MAX_ARCHIVE_MEMBERS = 1_000_000
# ...and many archives together: a .tar.gz may unpack 256 MB however small it is (see
# ReadLimits), 500,000 empty members from 2.4 MB, so ten such files would list five million
# entries. One run lists at most this many archive members (~0.4 GB of entries, plus what
# ingest keeps per rejected line); the rest is named to be ingested in another run. Plain files
# do not count: each is a file on disk, so their memory follows the disk, and a folder of
# millions of images must stay one command that resumes.
MAX_LISTED_ENTRIES = 2_000_000


@dataclass(frozen=True, slots=True)  # slots: 64 bytes an entry, ~50 fewer than with a __dict__
class SourceEntry:
    source: str            # the file or archive path, as given on the command line (+ folder walk)
    member: str = ""       # path inside the archive; '' for plain files
    label: str | None = None  # name of the folder the image sits in
    problem: str | None = None  # why this entry must not be read

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


def _is_junk_folder(name: str) -> bool:
    return name.startswith(".") or name in JUNK_NAMES


def _is_junk(parts: Iterable[str]) -> bool:
    parts = list(parts)
    return (any(_is_junk_folder(p) for p in parts)
            or PurePosixPath(parts[-1]).suffix.lower() in DOCUMENT_SUFFIXES)


def _member_problem(name: str) -> str | None:
    """Why an archive member name is unsafe to use as a path, or None."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return f"unsafe archive member: {printable(name)} (absolute path)"
    if ".." in posix.parts:
        return f"unsafe archive member: {printable(name)}"
    return None


def _member_label(archive: Path, member: str) -> str:
    parent = PurePosixPath(member.replace("\\", "/")).parent.name
    return sys.intern(parent or _archive_stem(archive))  # one string per folder, not per member


def _label_of(path: Path) -> str:
    parent = path.parent
    return sys.intern(parent.name if parent.name not in ("", "..") else parent.resolve().name)


# ---- regular files only, read with a hard limit -----------------------------------------------

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISDIR, "a folder"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a plain file")


def _stat_problem(path: Path, error: OSError) -> str:
    """One line for why os.stat() (which follows links) failed on `path`."""
    if error.errno == errno.ELOOP:
        return "symbolic link loop (the link leads back to itself)"
    if error.errno == errno.ENOENT and os.path.islink(path):
        return f"broken symbolic link: {printable(str(path))} -> {printable(os.readlink(path))}"
    return f"unreadable file: {error.strerror or error}"


def regular_file_problem(path: Path, st: os.stat_result) -> str | None:
    if stat.S_ISREG(st.st_mode):
        return None
    return f"not a regular file: it is {_kind(st.st_mode)}; only regular files are read"


def open_regular_file(path: Path) -> BinaryIO:
    """Open `path` (links followed) only if it is a regular file; raises UnreadableSource.

    stat before open: opening a FIFO blocks until a writer comes, and opening some devices does
    something (a tape rewinds, a watchdog arms). O_NONBLOCK and the fstat after open cover a file
    swapped for one of those in between."""
    try:
        problem = regular_file_problem(path, os.stat(path))
        if problem:
            raise UnreadableSource(problem)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise UnreadableSource(_stat_problem(path, e)) from None
    problem = regular_file_problem(path, os.fstat(fd))
    if problem:
        os.close(fd)
        raise UnreadableSource(problem)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file, refusing more than max_bytes however large it says it is."""
    with open_regular_file(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise UnreadableSource(f"too large: {size} bytes > {max_bytes}")
        try:
            # What it says, plus one byte to learn whether that is the truth: read(max_bytes + 1)
            # asked for the whole limit (512 MB) up front for every small image and CSV.
            data = f.read(size + 1)
            if len(data) > size:  # a /proc file says 0 bytes, a file may grow: on, to the limit
                data += f.read(max_bytes + 1 - len(data))
        except OSError as e:
            raise UnreadableSource(f"unreadable file: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise UnreadableSource(f"too large: more than {max_bytes} bytes (more than its size says)")
    return data



def read_json_object(path: Path, max_bytes: int) -> dict:
    """The JSON object in the regular file `path`, read within max_bytes (no FIFO that blocks, no
    endless device, no nesting deep enough to crash the parser); UnreadableSource otherwise.
    Every stage reads its saved JSON through this and words the refusal as its own error."""
    import json

    data = read_regular_file(path, max_bytes)
    try:
        data = json.loads(data)
    except (ValueError, RecursionError) as error:   # RecursionError: [[[[... 100000 deep
        raise UnreadableSource(f"not valid JSON ({str(error)[:200]})") from None
    if not isinstance(data, dict):
        raise UnreadableSource(f"not a JSON object (it holds a {type(data).__name__})")
    return data

# ---- pass 1: list -----------------------------------------------------------------------------

def _problem_entry(path: Path, problem: str, member: str = "") -> SourceEntry:
    return SourceEntry(str(path), member, _label_of(path), problem)


def _too_many_members(count: int | None, last: str | None = None) -> str:
    """The reason for an archive over MAX_ARCHIVE_MEMBERS. count None: how many is unknown;
    last: the member the listing stopped after (a tar is counted by reading it)."""
    held = (f"{count:,} members, more than the {MAX_ARCHIVE_MEMBERS:,}" if count is not None
            else f"more than the {MAX_ARCHIVE_MEMBERS:,} members")
    unread = f"; those after member {printable(last)} are not read" if last is not None else ""
    return f"too many members: holds {held} one archive may hold{unread}; split it"


def _read_zip_directory(path: Path) -> tuple[int, list[zipfile.ZipInfo]]:
    """(archive bytes, its ZipInfo list), once its member count is known to be within the cap."""
    with open_regular_file(path) as raw:
        size = os.fstat(raw.fileno()).st_size
        count, exact = _zip_member_count(raw)
        if count > MAX_ARCHIVE_MEMBERS:
            raise UnreadableSource(_too_many_members(count if exact else None))
        with zipfile.ZipFile(raw) as archive:
            # Returned without the ZipFile, whose name index would keep every ZipInfo alive.
            return size, archive.infolist()


def _list_zip(path: Path, limits: ReadLimits) -> Iterator[SourceEntry]:
    try:
        size, infos = _read_zip_directory(path)
    except UnreadableSource as e:
        yield _problem_entry(path, str(e))
        return
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        # ValueError: a member name flagged UTF-8 that is not (zipfile decodes it strictly).
        yield _problem_entry(path, f"unreadable zip archive: {printable(' '.join(str(e).split()))}")
        return
    source, budget, declared = str(path), limits.archive_budget(size), 0
    infos.reverse()
    while infos:
        info = infos.pop()  # each ZipInfo (~0.5 kB) is freed as its entry is made, not after them all
        if info.is_dir():
            continue
        name = info.filename
        problem = _zip_member_problem(info, limits)
        declared += info.file_size
        if problem is None and declared > budget:
            problem = (f"archive bomb: members up to {printable(name)} unpack to {declared} bytes "
                       f"from a {size}-byte archive (limit {budget}); extract it yourself if it is genuine")
        if problem is None and _is_junk(PurePosixPath(name).parts):
            continue
        yield SourceEntry(source, name, _member_label(path, name), problem)


_CENTRAL_HEADER = struct.Struct("<4s24xHHH12x")  # a central directory entry's fixed 46 bytes:
                                                   # signature; name, extra and comment lengths


def _zip_member_count(raw: BinaryIO) -> tuple[int, bool]:
    """(members, exact): how many members a zip holds, learnt before zipfile makes a ZipInfo for
    each. The end record (or its ZIP64 twin) says how many; zipfile never checks that, it parses
    the whole central directory, so a directory big enough to hold more than the cap whatever
    the record says is counted entry by entry, up to one past the cap (exact=False)."""
    try:
        # zipfile's own reading of the end records, so both agree on where the directory is.
        end = zipfile._EndRecData(raw)
    except (OSError, zipfile.BadZipFile):
        end = None
    if not end:
        return 0, True  # not a zip at all: zipfile says so next, in its words
    declared, directory_bytes = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if directory_bytes <= MAX_ARCHIVE_MEMBERS * _CENTRAL_HEADER.size:  # too small to hold more
        return min(declared, directory_bytes // _CENTRAL_HEADER.size), True
    if declared > MAX_ARCHIVE_MEMBERS:
        return declared, True
    start = end[zipfile._ECD_LOCATION] - directory_bytes
    if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
        start -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    if start < 0:
        return 0, True  # zipfile says "bad offset for central directory" next
    return _count_central_directory(raw, start, directory_bytes, MAX_ARCHIVE_MEMBERS + 1), False


def _count_central_directory(raw: BinaryIO, start: int, size: int, stop_at: int) -> int:
    """Central directory entries from `start`, up to stop_at; a damaged entry ends the count
    (zipfile reports the damage itself)."""
    count, position = 0, start
    while count < stop_at and position < start + size:
        raw.seek(position)
        head = raw.read(_CENTRAL_HEADER.size)
        if len(head) < _CENTRAL_HEADER.size or head[:4] != zipfile.stringCentralDir:
            break
        _, name, extra, comment = _CENTRAL_HEADER.unpack(head)
        position += _CENTRAL_HEADER.size + name + extra + comment
        count += 1
    return count


def _zip_member_problem(info: zipfile.ZipInfo, limits: ReadLimits) -> str | None:
    name = printable(info.filename)
    problem = _member_problem(info.filename)
    mode = info.external_attr >> 16
    if problem is None and stat.S_ISLNK(mode):
        problem = f"unsafe archive member: {name} (symbolic link)"
    elif problem is None and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        problem = f"unsafe archive member: {name} ({_kind(mode)})"
    if problem is None and info.flag_bits & 0x1:
        problem = f"encrypted archive member: {name} (no password is asked for; extract it yourself)"
    if problem is None and info.file_size > limits.max_member_bytes:
        problem = f"too large: {name} is {info.file_size} bytes > {limits.max_member_bytes}"
    if (problem is None and info.file_size > limits.member_ratio_min_bytes
            and info.file_size > limits.max_ratio * max(info.compress_size, 1)):
        ratio = info.file_size / max(info.compress_size, 1)
        problem = f"unsafe archive member: {name} (zip bomb: compression ratio {ratio:.0f}:1)"
    return problem


class ArchiveTooLarge(Exception):
    """A compressed archive unpacked past its budget (see ReadLimits.archive_budget)."""


class _BoundedStream:
    """The decompressed bytes of a tar, refused past `limit`: the limit holds WHILE reading, so a
    0.5 MB .tar.gz that would unpack to 3 GB costs at most `limit` bytes of decompression.

    tarfile only reads forward and seeks forward (to skip a member's data), and both go through
    here; a seek past the limit is refused before the decompressor runs."""

    def __init__(self, inner: BinaryIO, limit: int, compressed_bytes: int, compressed: bool):
        self.inner, self.limit, self.compressed_bytes = inner, limit, compressed_bytes
        self.compressed = compressed  # False: a plain tar, whose limit is simply its size
        self.position = 0

    def _refuse_past(self, position: int) -> None:
        if position > self.limit and not self.compressed:
            raise UnreadableSource(f"truncated tar archive: the file ends at byte {self.limit}")
        if position > self.limit:
            raise ArchiveTooLarge(
                f"archive bomb: unpacks to more than {self.limit} bytes from a "
                f"{self.compressed_bytes}-byte archive; extract it yourself if it is genuine")

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.limit + 1 - self.position
        self._refuse_past(self.position + n)
        data = self.inner.read(n)
        self.position += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        target = offset if whence == os.SEEK_SET else self.position + offset
        if whence == os.SEEK_END:
            raise OSError("cannot seek from the end of a compressed stream")
        self._refuse_past(target)
        self.position = self.inner.seek(target)
        return self.position

    def tell(self) -> int:
        return self.position


class _HeaderNotingTarInfo(tarfile.TarInfo):
    """Notes why tarfile stopped: it ends the member list silently on a damaged header after the
    first member; the note tells damage from a proper end-of-archive marker."""

    @classmethod
    def fromtarfile(cls, archive):
        try:
            return super().fromtarfile(archive)
        except tarfile.HeaderError as e:
            archive.stopped_by = e
            raise


class _CheckedTarFile(tarfile.TarFile):
    tarinfo = _HeaderNotingTarInfo
    stopped_by: Exception | None = None


_COMPRESSIONS = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
                 (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x04\x22\x4d\x18", "lz4"))


def _open_tar(raw: BinaryIO, limits: ReadLimits) -> _CheckedTarFile:
    """A tar over `raw` (any compression, told by content), decompressed within its budget."""
    size = os.fstat(raw.fileno()).st_size
    head = raw.read(6)
    raw.seek(0)
    compression = next((name for magic, name in _COMPRESSIONS if head.startswith(magic)), None)
    if compression in ("zstd", "lz4"):
        raise UnreadableSource(f"{compression}-compressed tar archives are not read; decompress it first")
    inner = {"gzip": lambda: gzip.GzipFile(fileobj=raw, mode="rb"), "bzip2": lambda: bz2.BZ2File(raw),
             "xz": lambda: lzma.LZMAFile(raw), None: lambda: raw}[compression]()
    budget = limits.archive_budget(size) if compression else size
    return _CheckedTarFile.open(fileobj=_BoundedStream(inner, budget, size, compression is not None), mode="r:")


def _tar_members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while (info := archive.next()) is not None:
        archive.members.clear()  # tarfile keeps every header read; a million members would fill memory
        yield info


def _end_problem(archive: _CheckedTarFile, last: str | None) -> str | None:
    """Why a tar's member list ended, when it was not its end-of-archive marker."""
    stop = archive.stopped_by
    after = f" after member {printable(last)}" if last else ""
    if isinstance(stop, tarfile.TruncatedHeaderError):
        return f"truncated tar archive{after}: cut off inside a header at byte {archive.offset}"
    if isinstance(stop, tarfile.InvalidHeaderError):
        return (f"damaged tar archive{after}: unreadable header at byte {archive.offset} "
                f"({stop}); the members after it cannot be read")
    return None  # EOFHeaderError: the zero blocks that end a tar; EmptyHeaderError: plain EOF


def _failure(e: Exception) -> str:
    return printable(" ".join(f"{type(e).__name__}: {e}".split()))


def _list_tar(path: Path, limits: ReadLimits) -> Iterator[SourceEntry]:
    source, last = str(path), None
    try:
        with open_regular_file(path) as raw, _open_tar(raw, limits) as archive:
            budget = archive.fileobj.limit
            for count, info in enumerate(_tar_members(archive), 1):
                if count > MAX_ARCHIVE_MEMBERS:  # a tar's count is known only by reading it
                    problem = _too_many_members(None, last)
                    break
                last = info.name
                if info.offset_data + info.size > budget:  # refused before it is decompressed
                    yield SourceEntry(source, info.name, _member_label(path, info.name),
                                      _past_the_budget(info, archive.fileobj))
                    return  # nothing after it can be reached within the budget
                entry = _tar_entry(path, source, info, limits)
                if entry is not None:
                    yield entry
            else:
                problem = _end_problem(archive, last)
    except (UnreadableSource, ArchiveTooLarge) as e:
        problem = str(e) + (f" (after member {printable(last)})" if last else "")
    except Exception as e:  # noqa: BLE001 - gzip/bz2/lzma/zlib/tarfile each raise their own types
        # Members listed before the damage are kept; the archive itself is recorded as damaged.
        after = f" after member {printable(last)}" if last else ""
        problem = f"damaged tar archive{after}: {_failure(e)}"
    if problem is not None:
        yield _problem_entry(path, problem)


def _past_the_budget(info: tarfile.TarInfo, stream: _BoundedStream) -> str:
    name = printable(info.name)
    if not stream.compressed:
        return f"truncated tar archive: {name} is cut off (the file ends at byte {stream.limit})"
    return (f"archive bomb: {name} would unpack past {stream.limit} bytes from a "
            f"{stream.compressed_bytes}-byte archive; extract it yourself if it is genuine")


def _tar_entry(path: Path, source: str, info: tarfile.TarInfo, limits: ReadLimits) -> SourceEntry | None:
    if info.isdir():
        return None
    name = info.name
    problem = _member_problem(name)
    if problem is None and (info.issym() or info.islnk()):
        kind = "symbolic link" if info.issym() else "hard link"
        problem = f"unsafe archive member: {printable(name)} ({kind} to {printable(info.linkname)})"
    elif problem is None and not info.isfile():
        problem = f"unsafe archive member: {printable(name)} (device or fifo)"
    if problem is None and info.size > limits.max_member_bytes:
        problem = f"too large: {printable(name)} is {info.size} bytes > {limits.max_member_bytes}"
    if problem is None and _is_junk(PurePosixPath(name).parts):
        return None
    return SourceEntry(source, name, _member_label(path, name), problem)


def _list_file(path: Path, limits: ReadLimits) -> Iterator[SourceEntry]:
    """One path that is not a folder we walk into: a file, an archive, or something refused."""
    try:
        st = os.stat(path)
    except OSError as e:
        yield _problem_entry(path, _stat_problem(path, e))
        return
    problem = regular_file_problem(path, st)
    if problem is not None:
        yield _problem_entry(path, problem)
        return
    kind = archive_kind(path)
    if kind == "zip":
        yield from _list_zip(path, limits)
    elif kind == "tar":
        yield from _list_tar(path, limits)
    else:
        yield SourceEntry(str(path), "", _label_of(path))


# Deeper folders are not entered: each level is a frame of the walk, and a tree a few thousand
# levels deep (1-character names fit PATH_MAX) would otherwise end in a RecursionError.
MAX_FOLDER_DEPTH = 200


@dataclass
class _Walk:
    """A folder walk's memory: folders listed so far, and folders never to enter (the output)."""

    limits: ReadLimits
    excluded: set[tuple[int, int]]
    listed: dict[tuple[int, int], Path]


def _folder_key(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _list_folder(folder: Path, walk: _Walk, ancestors: dict[tuple[int, int], Path]) -> Iterator[SourceEntry]:
    """Depth first, names sorted at each level: the order sorted(rglob) gave, so a dataset made
    before this walk resumes in the same order. Symlinked folders are entered once; a link back
    to a folder being walked, or to one already listed, is one line instead."""
    try:
        with os.scandir(folder) as scan:
            children = sorted(scan, key=lambda e: e.name)
    except OSError as e:
        yield _problem_entry(folder, f"unreadable folder: {e.strerror or e}")
        return
    for child in children:
        path = Path(child.path)
        try:
            st = os.stat(path)
        except OSError as e:
            if not _is_junk([child.name]):
                yield _problem_entry(path, _stat_problem(path, e))
            continue
        if not stat.S_ISDIR(st.st_mode):
            if not _is_junk([child.name]):
                yield from _list_file(path, walk.limits)
            continue
        key = _folder_key(st)
        if _is_junk_folder(child.name) or key in walk.excluded:
            continue  # hidden folders, and never our own output when --out sits inside a source
        if key in ancestors:
            yield _problem_entry(path, f"symbolic link loop: leads back to {printable(str(ancestors[key]))}; not followed")
        elif len(ancestors) >= MAX_FOLDER_DEPTH:
            yield _problem_entry(path, f"folder nested more than {MAX_FOLDER_DEPTH} levels deep; not entered")
        elif key in walk.listed:
            yield _problem_entry(path, f"folder already listed as {printable(str(walk.listed[key]))}; not listed twice")
        else:
            walk.listed[key] = path
            yield from _list_folder(path, walk, {**ancestors, key: path})


class _Listing:
    """Entries in listing order, each (source, member) once: the same file named by two
    arguments, or one name twice in an archive, is kept the first time. The keys are not kept as
    (source, member) tuples, ~0.1 kB apiece: plain files by source, members in a set per archive."""

    def __init__(self):
        self.entries: list[SourceEntry] = []
        self.files: set[str] = set()
        self.members: dict[str, set[str]] = {}
        self.member_count = 0
        self.full = False        # MAX_LISTED_ENTRIES members listed: the rest are not

    def _seen(self, entry: SourceEntry) -> tuple[set[str], str]:
        if entry.member:
            return self.members.setdefault(entry.source, set()), entry.member
        return self.files, entry.source

    def is_new(self, entry: SourceEntry) -> bool:
        seen, name = self._seen(entry)
        return name not in seen

    def add(self, entry: SourceEntry) -> None:
        seen, name = self._seen(entry)
        seen.add(name)
        self.entries.append(entry)
        self.member_count += bool(entry.member)


def _too_many_entries(arg: Path, first_unread: SourceEntry) -> SourceEntry:
    """The line that ends a listing at MAX_LISTED_ENTRIES. It is put on the argument being
    listed, not on the file it stopped at: that file is not rejected, a later run may read it."""
    member = first_unread.member
    where = printable(first_unread.source) + (f"!{printable(member)}" if member else "")
    return _problem_entry(arg, (
        f"too many archive members: one run lists at most {MAX_LISTED_ENTRIES:,}; "
        f"{where} and all after it are not read; ingest them in another run"))


def list_entries(paths: Iterable[str | Path], exclude: str | Path | None = None,
                 limits: ReadLimits = ReadLimits()) -> list[SourceEntry]:
    """Every candidate image under `paths`, in order: arguments as given, folders sorted.

    exclude: a folder never to descend into (the output dataset). A (source, member) listed twice
    (the same file named by two arguments) is kept once. At most MAX_LISTED_ENTRIES archive
    members are listed.
    """
    excluded = set()
    if exclude is not None and os.path.isdir(exclude):
        excluded.add(_folder_key(os.stat(exclude)))
    walk = _Walk(limits, excluded, {})
    listing = _Listing()
    for arg in paths:
        path = Path(arg)
        if not os.path.lexists(path):
            raise SourceError(f"{printable(str(path))}: no such file or folder")
        if path.is_dir():
            key = _folder_key(os.stat(path))
            if key in walk.excluded:
                continue
            walk.listed.setdefault(key, path)
            found = _list_folder(path, walk, {key: path})
        else:
            found = _list_file(path, limits)
        for entry in found:
            if not listing.is_new(entry):
                continue
            if entry.member and listing.member_count >= MAX_LISTED_ENTRIES:
                if not listing.full:     # said once; plain files after it are still listed
                    listing.entries.append(_too_many_entries(path, entry))
                    listing.full = True
                continue
            listing.add(entry)
    return listing.entries


# ---- pass 2: read -----------------------------------------------------------------------------

Payload = bytes | Path | str  # member bytes, a plain file's path (a worker reads it), or a reason


def _read_zip(path: Path, run: list[SourceEntry], limits: ReadLimits) -> Iterator[tuple[SourceEntry, Payload]]:
    try:
        raw = open_regular_file(path)
        archive = zipfile.ZipFile(raw)
    except Exception as e:  # noqa: BLE001 - changed since pass 1; every member gets the reason
        reason = str(e) if isinstance(e, UnreadableSource) else f"unreadable zip archive: {_failure(e)}"
        for entry in run:
            yield entry, entry.problem or reason
        return
    with raw, archive:
        for entry in run:
            if entry.problem is not None:
                yield entry, entry.problem
                continue
            yield entry, _read_zip_member(archive, entry.member, limits)


def _read_zip_member(archive: zipfile.ZipFile, member: str, limits: ReadLimits) -> bytes | str:
    try:
        info = archive.getinfo(member)
        problem = _zip_member_problem(info, limits)  # again: the file may have changed since pass 1
        if problem is not None:
            return problem
        # ZipExtFile stops at the declared size and checks the CRC; read(limit + 1) is the hard
        # stop in case a header lies about the size anyway.
        with archive.open(info) as f:
            data = f.read(limits.max_member_bytes + 1)
    except Exception as e:  # noqa: BLE001 - zlib, bz2, lzma, zipfile and the OS each raise their own
        return f"unreadable archive member: {printable(member)} ({_failure(e)})"
    if len(data) > limits.max_member_bytes:
        return f"too large: {printable(member)} is more than {limits.max_member_bytes} bytes"
    return data


def _read_tar(path: Path, run: list[SourceEntry], limits: ReadLimits) -> Iterator[tuple[SourceEntry, Payload]]:
    """`run` is in archive order (pass 1 listed it so), so one sequential pass finds every member,
    also in a .tar.gz/.xz, which cannot seek cheaply."""
    pending = iter(run)
    try:
        with open_regular_file(path) as raw, _open_tar(raw, limits) as archive:
            members = _tar_members(archive)
            for entry in pending:
                if entry.problem is not None:
                    yield entry, entry.problem
                    continue
                yield entry, _next_tar_member(archive, members, entry.member, limits)
    except Exception as e:  # noqa: BLE001 - the archive broke before these members: say so for each
        reason = str(e) if isinstance(e, (UnreadableSource, ArchiveTooLarge)) else _failure(e)
        for entry in pending:
            yield entry, entry.problem or f"unreadable archive member: {printable(entry.member)} ({reason})"


def _next_tar_member(archive: tarfile.TarFile, members: Iterator[tarfile.TarInfo], name: str,
                     limits: ReadLimits) -> bytes | str:
    try:
        for info in members:
            if info.name != name or not info.isfile():
                continue
            if info.size > limits.max_member_bytes:
                return f"too large: {printable(name)} is {info.size} bytes > {limits.max_member_bytes}"
            f = archive.extractfile(info)
            return f.read(limits.max_member_bytes + 1) if f is not None else b""
    except Exception as e:  # noqa: BLE001 - see _list_tar
        return f"unreadable archive member: {printable(name)} ({_failure(e)})"
    return f"unreadable archive member: {printable(name)} (missing on second read)"


def read_entries(entries: list[SourceEntry], limits: ReadLimits = ReadLimits()) -> Iterator[tuple[SourceEntry, Payload]]:
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
        yield from reader(path, entries[i:j], limits)
        i = j
