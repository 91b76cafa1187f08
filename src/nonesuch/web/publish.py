"""Publish a folder of generated images as a static site any host can serve, or file:// can open.

A SITE is a folder:

    index.html            the page; the same file is served in live mode
    site.css, site.js     its look and behaviour (from nonesuch/web/static/)
    images.js             sets window.NONESUCH_SITE: the title and the number of images, nothing
                          per image, so the page weighs the same for 50 images or 500,000 (a
                          script, not JSON, because fetch() of a local file fails under file://)
    records/<n>.js        image n's entry (file name, size, generation record), n = 0 .. count-1:
                          the page draws a random n and loads just that one entry
    img/<id>.<ext>        the images, byte for byte as generated (re-encoding would break their
                          C2PA signature), named by content: id = sha256(bytes)[:16]
    images.json           the full index for machines: every image with its generation record
    site.json             the PublishConfig that made the site, and counts

The generate stage writes `<seed>.<ext>` with a sidecar `<seed>.json` holding the generation
record (run, checkpoint_sha256, seed, class, truncation, watermark_id, ...); a record is taken
from the sidecar when there is one.

The site is built in a hidden staging folder beside SITE and renamed into place, so a server or
a reader sees the whole old site or the whole new one, never a mix of the two. One publish per
SITE at a time: the lock lives beside SITE (in `.SITE.lock/`), not in it, since SITE itself is
renamed away by the swap; a second publish into the same SITE is refused with one line naming
the first.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Iterator

from PIL import UnidentifiedImageError

from nonesuch import atomic
from nonesuch.data.sources import MAX_IMAGE_FILE_BYTES, UnreadableSource, read_regular_file
from nonesuch.progress import progress_bar
from nonesuch.web.entry import PageEntry
from nonesuch.web.errors import WebError

SITE_FORMAT = "nonesuch-site/1"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif"}
MAX_SIDECAR_BYTES = 1 << 20             # a generation record is ~2 KB
SHELL_FILES = ("site.css", "site.js")   # copied verbatim; index.html is filled in with the title
DEFAULT_TITLE = "This image does not exist"
# Images one `publish RUN --count N` generates: all of them wait in a temporary folder until the
# site swaps in, and the index every visit loads grows ~23 bytes an image (2.3 MB at this count).
MAX_RUN_IMAGES = 100_000


class PublishError(WebError):
    """A source or target folder that cannot be published; the message says which and why."""


@dataclass(frozen=True)
class PublishConfig:
    source: str                     # the folder the images came from
    title: str = DEFAULT_TITLE
    run: str | None = None          # when publish generated the images: the run ...
    count: int | None = None        # ... and how many (seeds 0..count-1)


@dataclass(frozen=True)
class SiteSummary:
    site: Path
    images: int
    skipped: list[str]              # "<file>: <reason>" for every file that is not a usable image
    page_bytes: int                 # index.html + css + js + images.js + one entry: all but the image


def publish_site(source: str | os.PathLike, out: str | os.PathLike,
                 title: str = DEFAULT_TITLE) -> SiteSummary:
    """Publish every image under `source` (recursively) as a static site in `out`."""
    with _site_lock(Path(out)):
        return _publish(PublishConfig(source=str(source), title=title), Path(source), Path(out))


def publish_run(run: str | os.PathLike, out: str | os.PathLike, count: int,
                title: str = DEFAULT_TITLE, **generate_options) -> SiteSummary:
    """Generate seeds 0..count-1 with the run's generator (watermarked, signed, registered; see
    nonesuch.generate) and publish them. `generate_options`: GenerateConfig fields such as
    truncation, class_name, size, format."""
    from nonesuch.bounds import check_range
    from nonesuch.generate.folder import GenerateConfig, generate_to_folder
    from nonesuch.generate.sampling import Seeds

    try:  # the CLI checks --count; a Python caller (the demo, a script) gets the same refusal
        check_range("count", count, 1, MAX_RUN_IMAGES)
    except ValueError as error:
        raise PublishError(str(error)) from None
    out = Path(out)
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # The generated files only pass through: the site keeps their exact bytes and records.
    with _site_lock(out), \
            tempfile.TemporaryDirectory(prefix=f".{out.name}.", suffix=".generated", dir=out.parent) as images:
        generate_to_folder(GenerateConfig(run=str(run), out=images, seeds=Seeds.first(count),
                                          **generate_options))
        config = PublishConfig(source=str(run), title=title, run=str(run), count=count)
        return _publish(config, Path(images), out)


def _publish(config: PublishConfig, source: Path, out: Path) -> SiteSummary:
    if not source.is_dir():
        raise PublishError(f"{source}: not a folder of images")
    _check_replaceable(out)
    paths = sorted(p for p in source.rglob("*")
                   if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(source).parts))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".staging", dir=out.parent))
    try:
        images, skipped = _copy_images(paths, staging)
        if not images:
            raise PublishError(f"{source}: no readable images (png, jpg, webp, gif) found"
                               + (f"; skipped {len(skipped)}: {skipped[0]}" if skipped else ""))
        _write_index(images, config, staging)
        page_bytes = page_weight(staging)
        atomic.write_json(staging / "site.json", {"format": SITE_FORMAT, "config": asdict(config),
                                                  "images": len(images), "page_bytes": page_bytes},
                          durable=False)  # the staging folder is renamed into place whole
        _swap_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return SiteSummary(site=out, images=len(images), skipped=skipped, page_bytes=page_bytes)


@contextlib.contextmanager
def _site_lock(out: Path) -> Iterator[None]:
    from nonesuch.folder_lock import FolderLock, FolderLockedError

    folder = out.with_name(f".{out.name}.lock")
    try:
        lock = FolderLock(folder, what="publish").acquire()
    except FolderLockedError as e:  # name the site, not the lock folder beside it
        raise PublishError(str(e).replace(folder.name, out.name, 1)) from e
    try:
        yield
    finally:
        lock.release()
        with contextlib.suppress(OSError):  # leave nothing beside the site; not empty = another publish's
            folder.rmdir()


def is_site(folder: Path) -> bool:
    return (folder / "site.json").is_file() and (folder / "index.html").is_file()


def render_index_html(title: str) -> str:
    """The page, with the title filled in; used by publish and by the live server."""
    template = resources.files("nonesuch.web").joinpath("static/index.html").read_text()
    return template.replace("{{title}}", html.escape(title))


def shell_file(name: str) -> bytes:
    return resources.files("nonesuch.web").joinpath(f"static/{name}").read_bytes()


def site_script(settings: dict) -> str:
    """images.js: the page's settings as a global, loadable by a <script> tag under file://."""
    return f"window.NONESUCH_SITE = {json.dumps(settings, separators=(',', ':'))};\n"


def page_weight(site: Path, position: int = 0) -> int:
    """Bytes a visitor downloads for the page, apart from the image itself (with image
    `position`'s entry; entries differ by a few bytes)."""
    files = ["index.html", *SHELL_FILES, "images.js", f"records/{position}.js"]
    return sum((site / f).stat().st_size for f in files)


def _check_replaceable(out: Path) -> None:
    # Never replace a folder that is not a site we made: it could be someone's photos.
    if out.exists() and not (out.is_dir() and (is_site(out) or not any(out.iterdir()))):
        raise PublishError(f"{out}: exists and is not a published site; choose an empty or new --out")


def _copy_images(paths: list[Path], site: Path) -> tuple[list[PageEntry], list[str]]:
    (site / "img").mkdir()
    images: dict[str, PageEntry] = {}     # by id: the same bytes twice are one image
    skipped = []
    with progress_bar("publishing images", len(paths)) as advance:
        for path in paths:
            try:
                image = _copy_one(path, site)
            except (UnidentifiedImageError, OSError, ValueError) as error:
                skipped.append(f"{path}: {error}")
            else:
                images.setdefault(image.id, image)
            advance()
    return list(images.values()), skipped


def _copy_one(path: Path, site: Path) -> PageEntry:
    try:          # bounded: a sparse file can claim 30 GB
        data = read_regular_file(path, MAX_IMAGE_FILE_BYTES)
    except UnreadableSource as error:
        raise ValueError(str(error)) from None
    image = PageEntry.from_bytes(data, _read_sidecar(path))
    (site / image.file).write_bytes(data)
    return image


def _read_sidecar(image_path: Path) -> dict:
    sidecar = image_path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        record = json.loads(read_regular_file(sidecar, MAX_SIDECAR_BYTES))
    except UnreadableSource as error:
        raise ValueError(f"sidecar {sidecar.name}: {error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"sidecar {sidecar.name} is not valid JSON ({error})") from None
    if not isinstance(record, dict):
        raise ValueError(f"sidecar {sidecar.name} is not a JSON object")
    return record


def _write_index(images: list[PageEntry], config: PublishConfig, site: Path) -> None:
    (site / "index.html").write_text(render_index_html(config.title))
    for name in SHELL_FILES:
        (site / name).write_bytes(shell_file(name))
    (site / "images.js").write_text(site_script({"mode": "static", "title": config.title,
                                                 "count": len(images)}))
    (site / "records").mkdir()
    for position, image in enumerate(images):
        entry = json.dumps(image.to_json(), separators=(",", ":"))
        (site / "records" / f"{position}.js").write_text(f"nonesuchRecord({position},{entry});\n")
    atomic.write_json(site / "images.json", [image.to_json() for image in images], durable=False)


def _swap_into_place(staging: Path, out: Path) -> None:
    os.chmod(staging, 0o755)      # mkdtemp makes it private; a site is for serving
    atomic.swap_folder_into_place(staging, out)
