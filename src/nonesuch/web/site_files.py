"""The files a server may send, looked up by URL path in a table made once at startup.

A request path is only ever a key into this table; it never reaches the filesystem, so no
spelling of `..`, percent-encoded or not, can name a file outside the site: anything not in the
table is a 404. Small files are kept in memory (a published site is immutable: its images and
records are named by content), which is also what makes static serving fast.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from nonesuch.data.sources import MAX_IMAGE_FILE_BYTES, UnreadableSource, read_regular_file

# Content-named files never change: browsers may keep them for a year without asking again.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
IN_MEMORY_LIMIT = 256 << 20     # bytes of file contents kept in memory; the rest is read per request
# A published site's largest files are its images and images.json (publish reads no image over
# MAX_IMAGE_FILE_BYTES); a 3 GB sparse file would otherwise be read whole on every request.
MAX_SITE_FILE_BYTES = MAX_IMAGE_FILE_BYTES
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".html": "text/html; charset=utf-8", ".json": "application/json",
               ".webp": "image/webp"}


@dataclass(frozen=True)
class SiteFile:
    media_type: str
    cache_control: str
    etag: str
    path: Path | None = None        # read from here per request when not in memory
    data: bytes | None = None

    def body(self) -> bytes:
        return self.data if self.data is not None else read_site_file(self.path)


def read_site_file(path: Path) -> bytes:
    """A site file's bytes, if it is a regular file within MAX_SITE_FILE_BYTES: a FIFO would
    block the server, a device (/dev/zero) never end; ServeError naming it otherwise."""
    from nonesuch.web.server import ServeError     # server.py imports this module

    try:
        return read_regular_file(path, MAX_SITE_FILE_BYTES)
    except UnreadableSource as error:
        raise ServeError(f"{path}: {error}; remove it from the site, or publish the site again") from None


def media_type_of(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def file_from_bytes(name: str, data: bytes, immutable: bool = False) -> SiteFile:
    return SiteFile(media_type=media_type_of(name), data=data,
                    cache_control=IMMUTABLE if immutable else REVALIDATE,
                    etag='"' + hashlib.sha256(data).hexdigest()[:16] + '"')


def load_site_files(site: Path) -> dict[str, SiteFile]:
    """URL path ("/img/ab12.png") -> SiteFile for every visible file under `site`; "/" is the page."""
    table: dict[str, SiteFile] = {}
    budget = IN_MEMORY_LIMIT
    for path in sorted(site.rglob("*")):
        relative = path.relative_to(site)
        if path.is_dir() or path.is_symlink() or any(p.startswith(".") for p in relative.parts):
            continue    # links could point outside the site; hidden files are not for visitors
        content_named = relative.parts[0] in ("img", "records")
        stat = path.stat()
        if stat.st_size <= budget or stat.st_size > MAX_SITE_FILE_BYTES:
            data = read_site_file(path)     # refuses, by name, a FIFO, a device, a file over the cap
            budget -= len(data)
            table["/" + relative.as_posix()] = file_from_bytes(path.name, data, content_named)
        else:
            table["/" + relative.as_posix()] = SiteFile(
                media_type=media_type_of(path.name), path=path,
                cache_control=IMMUTABLE if content_named else REVALIDATE,
                etag=f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"')
    if "/index.html" in table:
        table["/"] = table["/index.html"]
    return table
