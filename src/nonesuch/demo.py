"""`nonesuch demo`: the whole pipeline on the bundled emoji, ending in "this emoji does not exist".

    render OpenMoji -> ingest the smileys at 64 px -> the shipped generator (or train one for
    N minutes) -> generate, watermark, sign and register images -> publish a static site -> serve

Everything lands in one output folder (default `demo-out/`); re-running reuses what is there.
The shipped generator was trained by `nonesuch train` on exactly the dataset this builds; see
`nonesuch/pretrained/smileys64/TRAINING.md` for the command, time and machine.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from nonesuch import atomic
from nonesuch.gan.config import MAX_KIMG
from nonesuch.gan.folders import CheckpointError, read_json_object
from nonesuch.progress import console

DEMO_GROUP = "smileys-emotion"   # homogeneous data is what a small GAN learns well
DEMO_RESOLUTION = 64


@dataclass(frozen=True)
class DemoConfig:
    out: str = "demo-out"
    count: int = 1000               # images generated and published
    train_minutes: float = 0.0      # 0: use the shipped generator; N: train from scratch for N minutes
    serve: bool = True              # False: build everything, do not block serving (tests, CI)
    host: str = "127.0.0.1"
    port: int = 8000


SHIPPED_GENERATOR = "smileys64"


def shipped_run() -> Path:
    """The folder of the pretrained generator that ships inside the package."""
    from nonesuch.gan.folders import pretrained_folder

    return pretrained_folder() / SHIPPED_GENERATOR


def build_dataset(out: Path) -> Path:
    """Render the OpenMoji smileys and ingest them; both steps skip work already done."""
    from nonesuch.data import IngestConfig, ingest
    from nonesuch.data.openmoji import render_openmoji

    emoji = out / "openmoji"
    with _step(f"render OpenMoji {DEMO_GROUP}"):
        render_openmoji(emoji, 128, groups=[DEMO_GROUP])
    dataset = out / f"smileys{DEMO_RESOLUTION}"
    with _step(f"ingest {emoji / DEMO_GROUP} -> {dataset}"):
        summary = ingest([emoji / DEMO_GROUP], dataset, IngestConfig(resolution=DEMO_RESOLUTION),
                         show_progress=False)
    console.print(f"  {summary.images_in_dataset} images at 4..{DEMO_RESOLUTION} px")
    return dataset


# The cpu preset's full schedule (30 kimg per phase, 4 -> 64 px) takes about 75 minutes on 2 quiet
# cores (smileys64's log); a shorter budget shrinks every phase alike, so the run still reaches 64 px.
CPU_PRESET_KIMG_PER_HOUR = 24.0
# Longer would ask train for more than its most kimg per phase (--train-minutes 1e308 overflowed
# after the emoji were rendered and ingested): 250,000 minutes, far past any demo.
MAX_TRAIN_MINUTES = MAX_KIMG * 60 / CPU_PRESET_KIMG_PER_HOUR


def train_for(dataset: Path, run: Path, minutes: float) -> Path:
    """Train the CPU preset from scratch for about `minutes` (resumes if `run` exists)."""
    from nonesuch.gan.config import resolve_config
    from nonesuch.gan.train import train

    kimg = max(0.5, CPU_PRESET_KIMG_PER_HOUR * minutes / 60)
    config = resolve_config(dataset, run, {"preset": "cpu", "kimg": round(kimg, 2)})
    with _step(f"train {run} for {minutes:g} min"):
        train(config, max_seconds=minutes * 60)
    return run


def ensure_keys() -> None:
    """Every demo image is signed: make the user's local signing keys once if there are none."""
    from nonesuch.provenance.keys import default_keys, init_keys

    keys = default_keys()
    if not keys.exists():
        init_keys(keys)
        console.print(f"  made local signing keys in {keys.folder} (trust {keys.ca_cert} to see 'Trusted')")


def run_demo(config: DemoConfig = DemoConfig()) -> Path:
    """Build the demo site (and serve it unless config.serve is False). Returns the site folder."""
    from nonesuch.web.publish import publish_run

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out / "demo.json", asdict(config))
    dataset = build_dataset(out)
    run = train_for(dataset, out / "run", config.train_minutes) if config.train_minutes else shipped_run()
    ensure_keys()
    site = out / "site"
    if site.exists() and _published_from(site) != (str(run), config.count):
        shutil.rmtree(site)  # made from another generator or count: rebuild rather than mix
    if not site.exists():
        with _step(f"generate, watermark, sign and publish {config.count} images"):
            publish_run(run, site, config.count)   # the default title, as `serve RUN` shows live
    console.print(f"  site: {site.resolve()} (open index.html, or any static host)")
    if config.serve:
        from nonesuch.web.server import ServerConfig, serve

        console.print(f"[bold green]serving http://{config.host}:{config.port}[/]  (Ctrl-C stops)", markup=True)
        serve(site, ServerConfig(host=config.host, port=config.port))
    return site


def _published_from(site: Path) -> tuple[str, int] | None:
    """(run, image count) recorded in a published site's site.json; None for one that cannot be
    read (read bounded: a FIFO or a link to /dev/zero in place of it is no site of this demo)."""
    try:
        published = read_json_object(site / "site.json")
        return published["config"]["run"], published["images"]
    except (CheckpointError, KeyError, TypeError):
        return None


class _step:
    """Prints what a step does and how long it took."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        console.print(f"[bold]>[/] {self.what}", markup=True)
        self.started = time.perf_counter()

    def __exit__(self, *exc):
        if exc[0] is None:
            console.print(f"  done in {time.perf_counter() - self.started:.1f} s")
