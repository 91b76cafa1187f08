"""CLI verbs of the web stage: publish (a static site) and serve (a site, or a run live).
Heavy imports (FastAPI, uvicorn, torch) stay inside the verbs so `nonesuch --help` is fast."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.markup import escape

from nonesuch.generate.commands import check_truncation_option, screen_option
from nonesuch.progress import console, fail

DEFAULT_TITLE = "This image does not exist"   # same as nonesuch.web.publish.DEFAULT_TITLE
# Requests in progress at once, each holding a descriptor and a place in the image queue (tens of
# kB): 4,096 is already four times the descriptors a process gets by default; past it the limit
# no longer limits anything (10**12 was taken).
MAX_CONCURRENCY = 4096
PAGE_BUDGET = 50 * 1024                        # bytes a visitor loads besides the image


def publish_command(
    source: Path = typer.Argument(..., help="A folder of generated images (with their .json "
                                            "records), or a generator (RUN, exported folder or "
                                            "shipped name) to generate --count images from."),
    out: Path = typer.Option(..., "--out", help="The SITE folder to write (replaced if it is a site)."),
    count: int = typer.Option(100, "--count", help="With a RUN: how many images (seeds 0..N-1)."),
    title: str = typer.Option(DEFAULT_TITLE, "--title", help="The page's heading."),
    truncation: float = typer.Option(None, "--truncation", help="With a RUN: truncation psi."),
    size: int = typer.Option(256, "--size", help="With a RUN: image side in pixels."),
    fmt: str = typer.Option("jpg", "--format", help="With a RUN: jpg, png or webp."),
    screen: Optional[bool] = screen_option("With a RUN: "),
) -> None:
    """Publish images as a static site: one random image per visit, labelled AI-generated."""
    from nonesuch.bounds import check_range
    from nonesuch.gan.folders import is_generator
    from nonesuch.generate.sampling import check_size
    from nonesuch.web.publish import MAX_RUN_IMAGES, PublishError, publish_run, publish_site

    try:
        check_range("--count", count, 1, MAX_RUN_IMAGES)
        check_size(size, watermarked=True)
        check_truncation_option(truncation)
    except ValueError as error:
        fail(error)
    with _user_errors(PublishError, source):
        if is_generator(source):
            summary = publish_run(source, out, count, title=title, truncation=truncation,
                                  size=size, format=fmt, screen=screen)
        else:
            summary = publish_site(source, out, title=title)
    for line in summary.skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(line)}", soft_wrap=True, markup=True)
    console.print(f"{summary.images} images published to {summary.site} "
                  f"(page without the image: {summary.page_bytes / 1024:.1f} KB)")
    if summary.page_bytes > PAGE_BUDGET:
        console.print(f"[yellow]note:[/yellow] the page is over its {PAGE_BUDGET // 1024} KB budget: "
                      f"its index grows ~23 bytes per image; publish fewer images", soft_wrap=True, markup=True)
    console.print(f"open {(summary.site / 'index.html').resolve().as_uri()} "
                  f"or run: nonesuch serve {summary.site}")


def serve_command(
    target: Path = typer.Argument(..., help="A published SITE, or a generator (RUN, exported folder "
                                            "or shipped name) for live generation."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; 0.0.0.0 exposes it to the network."),
    port: int = typer.Option(8000, "--port"),
    max_concurrency: int = typer.Option(64, "--max-concurrency",
                                        help="Requests in progress at once; more get 429."),
    title: str = typer.Option(DEFAULT_TITLE, "--title", help="Live mode: the page's heading."),
    checkpoint: str = typer.Option(None, "--checkpoint", help="Live mode: checkpoint.", show_default="the latest"),
    size: int = typer.Option(256, "--size", help="Live mode: image side in pixels."),
    fmt: str = typer.Option("jpg", "--format", help="Live mode: jpg, png or webp."),
    truncation: float = typer.Option(None, "--truncation", help="Live mode: truncation psi."),
    pool_size: int = typer.Option(64, "--pool-size", help="Live mode: images kept ready."),
    batch_size: int = typer.Option(16, "--batch-size", help="Live mode: images per generator call."),
    quiet: bool = typer.Option(False, "--quiet", help="No per-request log lines (errors still logged)."),
    device: str = typer.Option("cpu", "--device", help="Live mode: where the generator runs: cpu, auto, cuda, cuda:N."),
    screen: Optional[bool] = screen_option("Live mode: "),
) -> None:
    """Serve a SITE (static) or a RUN (live: a fresh, watermarked, signed image per visit)."""
    from nonesuch.bounds import check_listen_address, check_port, check_range
    from nonesuch.generate.sampling import check_held_pixels, check_size
    from nonesuch.web.live_pool import PoolConfig
    from nonesuch.web.server import LiveConfig, ServeError, ServerConfig, create_app, run_app

    try:
        check_port("--port", port)
        check_range("--max-concurrency", max_concurrency, 1, MAX_CONCURRENCY)
        check_size(size, watermarked=True)
        check_truncation_option(truncation)
        check_range("--pool-size", pool_size, 1)
        check_range("--batch-size", batch_size, 1)
        # The pool holds max(pool, batch) finished images (a batch is finished whole before it goes in).
        option, held = ("--batch-size", batch_size) if batch_size > pool_size else ("--pool-size", pool_size)
        check_held_pixels(option, held, held, size)
        check_listen_address(host, port)   # last: the only check that touches the system
    except ValueError as error:
        fail(error)
    config = ServerConfig(
        host=host, port=port, max_concurrency=max_concurrency, title=title, access_log=not quiet,
        live=LiveConfig(checkpoint=checkpoint, size=size, fmt=fmt, truncation=truncation, device=device, screen=screen,
                        pool=PoolConfig(capacity=max(pool_size, batch_size), batch_size=batch_size)))
    with _user_errors(ServeError, target):
        app = create_app(target, config)
    console.print(f"serving {target} at http://{host}:{port}/  (Ctrl-C stops)", soft_wrap=True)
    run_app(app, config)


@contextmanager
def _user_errors(own: type[Exception], where: Path) -> Iterator[None]:
    """One `error:` line and exit 1 for what the user can fix: the verb's own errors, and the
    generate stage's about WHERE (a bad run or checkpoint, missing keys); anything else propagates.
    An error that names its setting is printed with that setting's flag (`--size: ...`)."""
    try:
        yield
    except own as error:
        fail(error)
    except Exception as error:
        if not _is_generator_error(error):
            raise
        fail(error if getattr(error, "option", None) else f"{where}: {error}")


def _is_generator_error(error: Exception) -> bool:
    """A bad generator or checkpoint, bad generate settings or missing signing keys: the earlier
    stages' user-facing errors."""
    from nonesuch.errors import NonesuchError

    return isinstance(error, NonesuchError)


def register(app: typer.Typer) -> None:
    app.command("publish")(publish_command)
    app.command("serve")(serve_command)
