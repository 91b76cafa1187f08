"""CLI verbs of the gan stage: `nonesuch train` (registered by nonesuch.cli). Heavy imports
(torch) stay inside the verb so `nonesuch --help` is fast."""

from __future__ import annotations

from pathlib import Path

import typer

from rich.markup import escape

from nonesuch.progress import console, fail


def train_command(
    dataset: Path = typer.Argument(..., help="A dataset folder made by `nonesuch ingest`."),
    out: Path = typer.Option(..., "--out", help="Run folder: config, checkpoints, log, grids. Re-run to resume."),
    preset: str = typer.Option(None, "--preset", help="Architecture: smoke, cpu, anchor128, paper.", show_default="cpu"),
    resolution: int = typer.Option(None, "--resolution", help="Final size in px.", show_default="the dataset's"),
    attention: list[int] = typer.Option(None, "--attention", help="Self-attention at this resolution (repeatable)."),
    conditional: bool = typer.Option(None, "--conditional/--unconditional", help="Condition on the dataset's labels."),
    loss: str = typer.Option(None, "--loss", help="wgan-gp (the paper's) or ns-r1.", show_default="wgan-gp"),
    kimg: float = typer.Option(None, "--kimg", help="Thousands of images per fade-in and per stabilisation.", show_default="the preset's: cpu 30, paper 600"),
    batch: int = typer.Option(None, "--batch", help="Minibatch size.", show_default="16"),
    lr: float = typer.Option(None, "--lr", help="Adam learning rate.", show_default="0.001"),
    augment: str = typer.Option(None, "--augment", help="DiffAugment ops on everything D sees: color,translation,cutout, a subset, or off.", show_default="off; auto = all three below 10k images"),
    augment_p: float = typer.Option(None, "--augment-p", help="Chance each op is applied to an image; the start value if adaptive.", show_default="1.0"),
    augment_target: float = typer.Option(None, "--augment-target", help="Adapt the strength so D's overfitting statistic stays at this (ADA: 0.6).", show_default="0 = fixed"),
    lecam: float = typer.Option(None, "--lecam", help="LeCam regularisation weight on D (Tseng et al. 2021; for small data).", show_default="0 = off"),
    gp_interval: int = typer.Option(None, "--gp-interval", help="Lazy gradient penalty every N steps (1 = the paper).", show_default="4"),
    snapshot_kimg: float = typer.Option(None, "--snapshot-kimg", help="Grid + checkpoint every N kimg.", show_default="4"),
    metric_images: int = typer.Option(None, "--metric-images", help="FID/KID on N images per snapshot (0 = off).", show_default="0"),
    keep: int = typer.Option(None, "--keep", help="Checkpoints to keep.", show_default="3"),
    device: str = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N.", show_default="auto"),
    amp: str = typer.Option(None, "--amp", help="Mixed precision: auto (bf16 on CUDA and bf16-capable CPUs), bf16, fp16, off.", show_default="auto"),
    seed: int = typer.Option(None, "--seed", help="Random seed.", show_default="0"),
    minutes: float = typer.Option(None, "--minutes", help="Stop (with a checkpoint) after this much training "
                                  "time; the same command continues later.", show_default="no limit"),
    init_from: str = typer.Option(None, "--init-from", help="Fine-tune: start from this run folder or shipped generator's G, D and EMA, fully grown (its architecture and resolution are kept)."),
    threads: int = typer.Option(None, "--threads", help="CPU threads per training process; saved in the run and reused on resume. On a busy machine fewer is faster.", show_default="OMP_NUM_THREADS, else every CPU this process may use"),
    smoke: bool = typer.Option(False, "--smoke", help="Exercise every part on a tiny schedule (< 60 s on CPU)."),
    resume: bool = typer.Option(False, "--resume", help="Require an existing run to continue."),
) -> None:
    """Train a Progressive GAN on a dataset; re-running the same command resumes exactly."""
    from nonesuch.bounds import check_positive
    from nonesuch.gan.config import TrainError, check_given_numbers, resolve_config

    options = dict(preset=preset, resolution=resolution, attention=attention or None, conditional=conditional,
                   loss=loss, kimg=kimg, batch=batch, augment=augment, augment_p=augment_p,
                   augment_target=augment_target, lecam=lecam, lr=lr, gp_interval=gp_interval, snapshot_kimg=snapshot_kimg,
                   metric_images=metric_images, keep_checkpoints=keep, device=device, amp=amp, seed=seed,
                   init_from=init_from, threads=threads)
    try:
        if minutes is not None:
            check_positive("--minutes", minutes)
        check_given_numbers(options)
    except (TrainError, ValueError) as e:
        fail(e)
    try:
        if smoke:
            _smoke(dataset, out, _without_missing_metric(options, smoke=True))
            return
        config = resolve_config(dataset, out, options, resume=resume)
        if config.metric_images:
            _without_missing_metric({"metric_images": config.metric_images}, smoke=False)
        _train(config, max_seconds=None if minutes is None else minutes * 60)
    except TrainError as e:
        fail(e)
    except KeyboardInterrupt:
        from nonesuch.gan.run_info import interrupted_message

        console.print(interrupted_message(out, _command_line()), soft_wrap=True, highlight=False)
        raise typer.Exit(130)


def _command_line() -> str:
    """The command as typed, to say how to resume (the same command resumes)."""
    import shlex
    import sys

    return "nonesuch " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])


def _without_missing_metric(options: dict, smoke: bool) -> dict:
    """FID/KID need the optional FID network: the smoke test skips its metric without it (saying
    so), and asking for --metric-images without it is refused before anything is trained."""
    from nonesuch.gan.config import TrainError
    from nonesuch.metrics.inception import fid_network_missing

    requested = options.get("metric_images")
    if requested == 0 or (requested is None and not smoke):
        return options
    missing = fid_network_missing()
    if missing is None:
        return options
    if smoke and options.get("metric_images") is None:
        console.print(f"note: FID/KID skipped, {missing}", soft_wrap=True, highlight=False)
        return {**options, "metric_images": 0}
    raise TrainError(f"--metric-images {options['metric_images']}: {missing}")


def _train(config, until_images: int | None = None, max_seconds: float | None = None) -> None:
    from nonesuch.gan.train import train

    run = train(config, until_images=until_images, max_seconds=max_seconds)
    if until_images is not None:
        return
    if max_seconds is not None and not _finished(run):
        console.print(f"time is up: {run} is saved at its latest checkpoint; the same command continues it",
                      soft_wrap=True)
        return
    console.print(f"done: {run}  (grids in {run / 'grids'}, log {run / 'log.jsonl'}, {run / 'progress.gif'}, "
                  f"TensorBoard: tensorboard --logdir {run})", soft_wrap=True)


def _finished(run: Path) -> bool:
    from nonesuch.gan.run_info import run_info

    info = run_info(run)
    return info.images_seen >= info.total_images


def _smoke(dataset: Path, out: Path, options: dict) -> None:
    """Train half the tiny schedule, stop, then resume to the end: the same path a crash takes."""
    import time

    from nonesuch.data.dataset import Dataset, DatasetError
    from nonesuch.gan.config import TrainError, resolve_config
    from nonesuch.gan.presets import smoke_options

    try:
        ds = Dataset(dataset)
    except DatasetError as e:
        raise TrainError(str(e)) from e
    given = {k: v for k, v in options.items() if v is not None}
    smoke = smoke_options(ds)
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


def generators_command() -> None:
    """List the generators that ship with nonesuch: any command that takes a RUN takes their name."""
    from nonesuch.gan.folders import CheckpointError, pretrained_folder, read_info, shipped_names
    from nonesuch.progress import print_warning

    for name in shipped_names():
        try:
            info = read_info(pretrained_folder() / name)
        except CheckpointError as error:     # a damaged install: say so, and list the rest
            print_warning(error)
            continue
        classes = f"{len(info.class_names)} classes" if info.class_names else "unconditional"
        data = info.trained_on
        scores = ", ".join(f"{k.upper()} {v:g}" for k, v in info.scores.items() if k in ("fid", "kid"))
        megabytes = sum(p.stat().st_size for p in (pretrained_folder() / info.name).iterdir()) / 2**20
        about = (f"{info.resolution} px, {classes}, {megabytes:.1f} MB; "
                 f"trained on {data.get('dataset')} ({data.get('images')} images, "
                 f"{data.get('licence') or 'licence unknown'})" + (f"; {scores}" if scores else ""))
        console.print(f"[bold]{escape(info.name)}[/]  {escape(about)}", soft_wrap=True, highlight=False, markup=True)


def print_run_info(run: Path, as_json: bool = False) -> None:
    """`nonesuch info RUN`: where a run is, from its folder (no weights loaded)."""
    import json
    from dataclasses import asdict

    from nonesuch.gan.run_info import RunInfoError, run_info

    try:
        info = run_info(run)
    except RunInfoError as e:
        fail(e)
    if as_json:
        print(json.dumps(asdict(info) | {"done": round(info.done, 4)}, indent=2))
        return
    say = lambda text: console.print(text, soft_wrap=True, highlight=False)  # noqa: E731
    say(f"{info.path}: {info.preset} run, generator {info.resolution} px, "
        + (f"{len(info.classes)} classes" if info.classes else "unconditional") + f", trained on {info.dataset}")
    say(f"  schedule: {info.kimg_per_phase:g} kimg per phase: {', '.join(info.phases)} = {info.total_images:,} images")
    say(f"  now: {info.images_seen:,} images seen ({info.done:.0%}), {info.stage}, "
        f"{info.elapsed_s / 60:.1f} min of training"
        + (f", last {info.last_img_per_s:g} img/s" if info.last_img_per_s else "")
        + (f" on {info.device_used}" if info.device_used else ""))
    say(f"  checkpoints ({len(info.checkpoints)}):")
    for c in info.checkpoints:
        scores = "  ".join(f"{k} {v:.4g}" for k, v in c.scores.items() if k in ("fid", "kid"))
        say(f"    {c.name}  {c.images_seen:>9,} images  {c.stage:<12} {scores or 'no scores (train --metric-images N, or nonesuch metrics)'}")
    if info.images_seen < info.total_images:
        say(f"  continue with: nonesuch train {info.dataset} --out {info.path}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("generators")(generators_command)
