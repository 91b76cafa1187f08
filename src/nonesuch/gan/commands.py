"""CLI verbs of the gan stage: `nonesuch train` (registered by nonesuch.cli). Heavy imports
(torch) stay inside the verb so `nonesuch --help` is fast."""

from __future__ import annotations

from pathlib import Path

import typer

from nonesuch.progress import console, fail


# What --smoke means: every part of training (growth to 16 px, fades, attention, conditioning
# when the dataset has labels, snapshot grid, metric, checkpoint, resume) on a tiny schedule.
SMOKE_OPTIONS = dict(preset="smoke", attention=[8], kimg=0.128, snapshot_kimg=0.32, metric_images=8,
                     grid_size=16, batch=16)


def train_command(
    dataset: Path = typer.Argument(..., help="A dataset folder made by `nonesuch ingest`."),
    out: Path = typer.Option(..., "--out", help="Run folder: config, checkpoints, log, grids. Re-run to resume."),
    preset: str = typer.Option(None, "--preset", help="Architecture: smoke, cpu (default), anchor128, paper."),
    resolution: int = typer.Option(None, "--resolution", help="Final size in px (default: the dataset's)."),
    attention: list[int] = typer.Option(None, "--attention", help="Self-attention at this resolution (repeatable)."),
    conditional: bool = typer.Option(None, "--conditional/--unconditional", help="Condition on the dataset's labels."),
    loss: str = typer.Option(None, "--loss", help="wgan-gp (default, the paper's) or ns-r1."),
    kimg: float = typer.Option(None, "--kimg", help="Thousands of images per fade-in and per stabilisation (default: the preset's; cpu 30, paper 600)."),
    batch: int = typer.Option(None, "--batch", help="Minibatch size (default 16)."),
    lr: float = typer.Option(None, "--lr", help="Adam learning rate (default 0.001)."),
    augment: str = typer.Option(None, "--augment", help="DiffAugment ops on everything D sees: color,translation,cutout, a subset, or off [default: auto = all three below 10k images]."),
    augment_p: float = typer.Option(None, "--augment-p", help="Chance each op is applied to an image [default: 1.0]; the start value if adaptive."),
    augment_target: float = typer.Option(None, "--augment-target", help="Adapt the strength so D's overfitting statistic stays at this (ADA: 0.6) [default: 0 = fixed]."),
    gp_interval: int = typer.Option(None, "--gp-interval", help="Lazy gradient penalty every N steps (default 4; 1 = the paper)."),
    snapshot_kimg: float = typer.Option(None, "--snapshot-kimg", help="Grid + checkpoint every N kimg."),
    metric_images: int = typer.Option(None, "--metric-images", help="FID/KID on N images per snapshot (0 = off)."),
    keep: int = typer.Option(None, "--keep", help="Checkpoints to keep (default 3)."),
    device: str = typer.Option(None, "--device", help="auto, cpu or cuda."),
    amp: str = typer.Option(None, "--amp", help="Mixed precision: auto (bf16 on CUDA and bf16-capable CPUs), bf16, fp16, off."),
    seed: int = typer.Option(None, "--seed", help="Random seed (default 0)."),
    threads: int = typer.Option(None, "--threads", min=0, help="CPU threads per training process [default: 0 = OMP_NUM_THREADS, else every CPU this process may use]; saved in the run and reused on resume. On a busy machine fewer is faster."),
    smoke: bool = typer.Option(False, "--smoke", help="Exercise every part on a tiny schedule (< 60 s on CPU)."),
    resume: bool = typer.Option(False, "--resume", help="Require an existing run to continue."),
) -> None:
    """Train a Progressive GAN on a dataset; re-running the same command resumes exactly."""
    from nonesuch.gan.config import TrainError, resolve_config

    options = dict(preset=preset, resolution=resolution, attention=attention or None, conditional=conditional,
                   loss=loss, kimg=kimg, batch=batch, augment=augment, augment_p=augment_p,
                   augment_target=augment_target, lr=lr, gp_interval=gp_interval, snapshot_kimg=snapshot_kimg,
                   metric_images=metric_images, keep_checkpoints=keep, device=device, amp=amp, seed=seed,
                   threads=threads)
    try:
        if smoke:
            _smoke(dataset, out, options)
            return
        config = resolve_config(dataset, out, options, resume=resume)
        _train(config)
    except TrainError as e:
        fail(e)


def _train(config, until_images: int | None = None) -> None:
    from nonesuch.gan.train import train

    run = train(config, until_images=until_images)
    if until_images is None:
        console.print(f"done: {run}  (grids in {run / 'grids'}, log {run / 'log.jsonl'}, {run / 'progress.gif'})")


def _smoke(dataset: Path, out: Path, options: dict) -> None:
    """Train half the tiny schedule, stop, then resume to the end: the same path a crash takes."""
    import time

    from nonesuch.data.dataset import Dataset, DatasetError
    from nonesuch.gan.config import TrainError, resolve_config

    try:
        ds = Dataset(dataset)
    except DatasetError as e:
        raise TrainError(str(e)) from e
    given = {k: v for k, v in options.items() if v is not None}
    smoke = {**SMOKE_OPTIONS, "resolution": min(16, ds.resolution), "conditional": bool(ds.label_names())}
    if len(ds) < 2:
        smoke["metric_images"] = 0  # FID/KID need 2 real images; everything else runs on one
    smoke.update(given)
    started = time.perf_counter()
    config = resolve_config(dataset, out, smoke)
    half = config.schedule.total_images // 2 // config.batch * config.batch
    _train(config, until_images=half)
    console.print(f"smoke: stopped at {half} images; resuming from the checkpoint")
    _train(resolve_config(dataset, out, smoke, resume=True))
    console.print(f"smoke: every part ran in {time.perf_counter() - started:.1f} s")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
