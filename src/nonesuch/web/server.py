"""`nonesuch serve`: a published SITE, or a RUN in live mode, over HTTP with FastAPI and uvicorn.

Static mode serves the site's files from memory. Live mode serves the same page, but each "next
image" is a fresh generated, watermarked, signed image taken from a LivePool:

    GET /api/next          {id, src, file, sha256, width, height, alt, record}; never the same twice
    GET /live/<id>.<ext>   that image's bytes (the last `keep_handed_out` images are kept)
    GET /healthz           {"status": "ok", ...}; 503 while the generator fails and none is ready

Around both: at most `max_concurrency` requests at once (429 beyond), one access-log line per
request. It binds 127.0.0.1 unless told otherwise: a generator is not something to expose by
accident. `serve()` blocks until Ctrl-C; `start_server()` runs in a thread for tests and demos.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from nonesuch.web.errors import WebError
from nonesuch.web.live_pool import LivePool, PoolConfig, PoolEmpty
from nonesuch.web.middleware import AccessLog, ConcurrencyLimit
from nonesuch.gan.folders import is_generator
from nonesuch.web.entry import PageEntry
from nonesuch.web.publish import (DEFAULT_TITLE, SHELL_FILES, is_site, render_index_html, shell_file,
                                  site_script)
from nonesuch.web.site_files import SiteFile, file_from_bytes, load_site_files

log = logging.getLogger("nonesuch.web")

# The page loads nothing from elsewhere; the browser is told to refuse it if something tried.
CSP = (b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
COMMON_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                  (b"content-security-policy", CSP)]


class ServeError(WebError):
    """A target that cannot be served; the message names it and says what would work."""


@dataclass(frozen=True)
class LiveConfig:
    checkpoint: str | None = None       # default: the run's latest
    size: int = 256                     # pixels, the served image's side
    fmt: str = "jpg"
    truncation: float | None = None
    class_name: str | None = None
    pool: PoolConfig = field(default_factory=PoolConfig)
    wait_s: float = 10.0                # how long a request may wait for the pool before 503
    keep_handed_out: int = 256          # images still downloadable by /live/<id> after hand-out
    device: str = "cpu"                 # where the generator runs: cpu, auto, cuda, cuda:N
    screen: bool | None = None          # draw through the generator's screen: None = when it has one


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000                    # 0: any free port (start_server reports it)
    max_concurrency: int = 64
    title: str = DEFAULT_TITLE          # live mode's page title (a site keeps its own)
    access_log: bool = True
    live: LiveConfig = field(default_factory=LiveConfig)


def create_app(target: str | Path, config: ServerConfig = ServerConfig(), producer=None):
    """The ASGI app for a SITE, or in live mode for a generator (a RUN, an exported generator
    folder or a shipped generator's name). `producer` (anything with .produce(seeds)) replaces
    the generator in live mode; tests use it."""
    target = Path(target)
    if is_site(target):
        app = static_app(target)
    elif is_generator(target) or producer is not None:
        owns_producer = producer is None
        app = live_app(producer or _run_producer(target, config.live), config, owns_producer)
    else:
        raise ServeError(f"{target}: neither a published site (site.json, index.html) nor a "
                         f"generator (a training run, an exported generator or a shipped name)")
    app = ConcurrencyLimit(app, config.max_concurrency)
    return AccessLog(app) if config.access_log else app


def static_app(site: Path) -> SiteFiles:
    files = load_site_files(site)
    image_count = sum(1 for path in files if path.startswith("/img/"))
    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @api.get("/healthz")
    def healthz():
        return {"status": "ok", "mode": "static", "images": image_count}

    return SiteFiles(files, api)


def live_app(producer, config: ServerConfig, owns_producer: bool = False) -> SiteFiles:
    pool = LivePool(producer, config.live.pool)
    handed_out: collections.OrderedDict[str, tuple[bytes, str]] = collections.OrderedDict()

    @contextlib.asynccontextmanager
    async def lifespan(_):
        pool.start()
        log.info("live mode: keeping %d images ready, generated %d at a time",
                 config.live.pool.capacity, config.live.pool.batch_size)
        yield
        pool.stop()
        if owns_producer:
            producer.close()

    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)

    @api.get("/api/next")
    async def next_image():
        try:
            image = await pool.take(config.live.wait_s)
        except PoolEmpty as error:
            return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "1"})
        entry = PageEntry.from_generated(image.data, image.extension, image.record)
        handed_out[entry.file] = (image.data, image.media_type)
        while len(handed_out) > config.live.keep_handed_out:
            handed_out.popitem(last=False)
        return JSONResponse({**entry.to_json(), "src": f"live/{entry.file}"},
                            headers={"Cache-Control": "no-store"})

    @api.get("/live/{name}")
    def live_image(name: str):
        if name not in handed_out:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        data, media_type = handed_out[name]
        return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})

    @api.get("/healthz")
    def healthz():
        stats = asdict(pool.stats)
        failing = pool.stats.errors > 0 and pool.ready_count() == 0
        return JSONResponse({"status": "failing" if failing else "ok", "mode": "live",
                             "ready": pool.ready_count(), **stats}, status_code=503 if failing else 200)

    settings = {"mode": "live", "title": config.title, "api": "api/next"}
    files = {name: file_from_bytes(name, shell_file(name)) for name in SHELL_FILES}
    files["images.js"] = file_from_bytes("images.js", site_script(settings).encode())
    files["index.html"] = file_from_bytes("index.html", render_index_html(config.title).encode())
    table = {"/" + name: f for name, f in files.items()} | {"/": files["index.html"]}
    return SiteFiles(table, api)


class SiteFiles:
    """Answers GET/HEAD for paths in the file table straight from memory; all else goes to `app`."""

    def __init__(self, files: dict[str, SiteFile], app):
        self.files = files
        self.app = app

    async def __call__(self, scope, receive, send):
        site_file = self.files.get(scope["path"]) if scope["type"] == "http" else None
        if site_file is None or scope["method"] not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        if _header(scope, b"if-none-match") == site_file.etag.encode():
            status, body = 304, b""
        else:
            status, body = 200, site_file.body()
        headers = [(b"content-type", site_file.media_type.encode()),
                   (b"content-length", str(len(body)).encode()),
                   (b"cache-control", site_file.cache_control.encode()),
                   (b"etag", site_file.etag.encode()), *COMMON_HEADERS]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def _run_producer(run: Path, live: LiveConfig):
    try:
        from nonesuch.generate.pipeline import Producer
    except ImportError as error:
        raise ServeError(f"{run}: live mode needs the generate stage's Producer ({error})") from None
    # Worker processes from the start: a server lives long, and its refills come in calls
    # smaller than the size from which the Producer would start them by itself.
    return Producer(run, checkpoint=live.checkpoint, size=live.size, fmt=live.fmt,
                    truncation=live.truncation, class_name=live.class_name, processes=True,
                    device=live.device, screen=live.screen)


# ---- running it ----------------------------------------------------------------------------------

def configure_logging() -> None:
    """Request and error lines on stderr, with time; idempotent."""
    from nonesuch.web.connections import RateLimit

    logger = logging.getLogger("nonesuch.web")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RateLimit())     # a request flood must not become a log flood
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    uvicorn_log = logging.getLogger("uvicorn.error")  # "Invalid HTTP request received." per bad request
    if not any(isinstance(f, RateLimit) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(RateLimit())


def serve(target: str | Path, config: ServerConfig = ServerConfig(), producer=None) -> None:
    """Serve until Ctrl-C (uvicorn stops accepting, finishes requests, stops the pool)."""
    run_app(create_app(target, config, producer), config)


def run_app(app, config: ServerConfig) -> None:
    """Serve an app from create_app() until Ctrl-C."""
    import uvicorn

    from nonesuch.web.connections import uvicorn_limits

    configure_logging()
    uvicorn.run(app, host=config.host, port=config.port, access_log=False, log_level="info",
                timeout_graceful_shutdown=5, server_header=False, **uvicorn_limits())


class RunningServer:
    """A server on a background thread; `with start_server(...) as server: server.url`."""

    def __init__(self, server, thread: threading.Thread):
        self._server = server
        self._thread = thread
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"

    def stop(self, timeout: float = 15.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_server(target: str | Path, config: ServerConfig = ServerConfig(port=0), producer=None,
                 startup_timeout: float = 60.0) -> RunningServer:
    """Start serving on a thread and return once it accepts connections."""
    import uvicorn

    from nonesuch.web.connections import uvicorn_limits

    app = create_app(target, config, producer)
    server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, access_log=False,
                                           log_config=None, server_header=False,
                                           timeout_graceful_shutdown=5, **uvicorn_limits()))
    thread = threading.Thread(target=server.run, name="nonesuch-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        server.should_exit = True
        raise ServeError(f"the server for {target} did not start on {config.host}:{config.port} "
                         f"(is the port in use?)")
    return RunningServer(server, thread)
