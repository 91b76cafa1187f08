"""The training loop: open the data, build or resume the run, then repeat one D step and one G step
until the schedule is done, with a snapshot (grid, checkpoint, metric, log) every N kimg.

Exact resume: every quantity a step depends on is either restored from the checkpoint (weights,
EMA, Adam moments, images seen) or a pure function of (seed, step, rank) (latents, flips,
gradient-penalty blends) or of (seed, images seen) (data order, stage and alpha). A run killed
at any moment and resumed therefore takes the same steps as one that never stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nonesuch import atomic
from nonesuch.data.dataset import Dataset, DatasetError
from nonesuch.gan import augment, checkpoint, distributed, divergence, losses, startup, tensorboard_log
from nonesuch.gan.config import LOSSES, TrainConfig, TrainError, check_given_numbers, config_needs_saving
from nonesuch.gan.data import TrainingImages
from nonesuch.gan.ema import ema_beta, update_ema
from nonesuch.gan.precision import amp_dtype
from nonesuch.gan.run_info import log_records
from nonesuch.gan.schedule import Stage
from nonesuch.gan.snapshot import save_grid, save_progress_gif, snapshot_latents


@dataclass
class Run:
    """Everything a step needs, in one place."""

    config: TrainConfig
    placement: distributed.Placement
    images: TrainingImages
    generator: torch.nn.Module
    discriminator: torch.nn.Module
    generator_ema: torch.nn.Module
    optimizers: dict[str, torch.optim.Optimizer]
    scalers: dict[str, torch.amp.GradScaler]  # fp16 loss scaling; disabled (a no-op) otherwise
    images_seen: int = 0
    step: int = 0
    elapsed_s: float = 0.0  # seconds spent in training steps before this process started (for the log)
    augment_strength: float = 0.0  # p of DiffAugment now (moves only if the config's target is set)
    lecam_anchors: tuple[float, float] = (0.0, 0.0)  # moving averages of D's real and fake scores
    pending_losses: dict[str, list] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return Path(self.config.out)


# --augment auto augments datasets smaller than this: DiffAugment's own guidance is "the
# strongest" policy for hundreds of images, and it still helps at 10% of CIFAR (5k images).
AUTO_AUGMENT_BELOW = 10_000


# -- preparing ---------------------------------------------------------------------------------

def validate(config: TrainConfig) -> tuple[TrainConfig, Dataset]:
    """Check the config against the dataset before anything is written; fill in resolution and
    class names for a new run."""
    try:
        dataset = Dataset(config.dataset)
    except DatasetError as e:
        raise TrainError(str(e)) from e
    if len(dataset) == 0:
        raise TrainError(f"{config.dataset}: the dataset holds no images")
    _check_fingerprint(config, dataset)
    if config.metric_images > 0 and len(dataset) < 2:  # FID fits a covariance: one image has none
        raise TrainError(f"{config.dataset}: FID/KID need at least 2 real images, the dataset has 1; "
                         f"use --metric-images 0")
    config.resolution = config.resolution or min(dataset.resolution, config.arch.max_resolution)
    if config.resolution not in dataset.resolutions:
        raise TrainError(f"{config.dataset}: has no {config.resolution} px images "
                         f"(it has {', '.join(map(str, dataset.resolutions))}); choose another --resolution")
    if config.resolution > config.arch.max_resolution:
        raise TrainError(f"--preset {config.preset} goes up to {config.arch.max_resolution} px, "
                         f"not {config.resolution}; choose a lower --resolution or another preset")
    bad_attention = [r for r in config.attention if r not in dataset.resolutions or r > config.resolution]
    if bad_attention:
        raise TrainError(f"--attention {bad_attention}: must be resolutions from 4 to {config.resolution}")
    if config.loss not in LOSSES:
        raise TrainError(f"--loss {config.loss!r}: choose one of {', '.join(LOSSES)}")
    if config.conditional:
        names, indices = dataset.label_names(), dataset.label_indices()
        if not names:
            raise TrainError(f"{config.dataset}: --conditional needs labels, and this dataset has none; "
                             f"drop --conditional or ingest a folder of labelled sub-folders")
        if (indices < 0).any():
            raise TrainError(f"{config.dataset}: --conditional needs every image labelled, "
                             f"{int((indices < 0).sum())} of {len(indices)} have no label")
        if config.class_names and config.class_names != names:
            raise TrainError(f"{config.out}/config.json: the run's classes {config.class_names} differ from "
                             f"the dataset's {names}")
        config.class_names = names
    if config.augment == "auto":
        config.augment = "off" if len(dataset) >= AUTO_AUGMENT_BELOW else ",".join(augment.POLICIES)
    try:
        augment.parse_policy(config.augment)
    except ValueError as e:
        raise TrainError(f"--augment {config.augment!r}: {e}") from e
    if config.lecam < 0 or not 0 <= config.lecam_decay < 1:
        raise TrainError("--lecam must be >= 0 (0 = off) and its decay in [0, 1)")
    # The CLI checked these before any work; a config built in Python is checked here, alike.
    check_given_numbers({"augment_p": config.augment_p, "augment_target": config.augment_target})
    if 0 < config.metric_images < 8:
        raise TrainError(f"--metric-images {config.metric_images}: score at least 8 generated images (precision "
                         f"and recall need k = 3 neighbours), or 0 for none")
    if config.batch % 4 or config.batch < 4:
        raise TrainError(f"--batch {config.batch}: must be a multiple of 4 (minibatch-stddev groups)")
    return config, dataset


def _check_fingerprint(config: TrainConfig, dataset: Dataset) -> None:
    """A run trains on one dataset: resuming after images were added, removed or relabelled would
    silently continue on other data (the data order is a function of the image count)."""
    fingerprint = dataset.fingerprint()
    if config.dataset_fingerprint and config.dataset_fingerprint != fingerprint:
        raise TrainError(f"{config.dataset}: changed since this run started (it now holds {len(dataset)} images, "
                         f"or other pixels or labels); train into another --out, or restore the dataset")
    config.dataset_fingerprint = fingerprint


def _build(config: TrainConfig, placement: distributed.Placement, dataset: Dataset) -> Run:
    torch.manual_seed(config.seed)  # identical initial weights in every process
    generator, discriminator = config.make_generator(), config.make_discriminator()
    generator_ema = config.make_generator()
    generator_ema.load_state_dict(generator.state_dict())
    nets = [net.to(placement.device) for net in (generator, discriminator, generator_ema)]
    if placement.device.type == "cuda":
        nets = [net.to(memory_format=torch.channels_last) for net in nets]
    generator_ema.requires_grad_(False).eval()
    adam = dict(lr=config.lr, betas=tuple(config.betas), eps=1e-8, foreach=True)
    optimizers = {"G": torch.optim.Adam(generator.parameters(), **adam),
                  "D": torch.optim.Adam(discriminator.parameters(), **adam)}
    fp16 = amp_dtype(config.amp, placement.device) == torch.float16
    # init_scale 2**10, not 2**16: the penalty's double backward overflows fp16 at large scales, and each
    # overflow costs a skipped step while the scaler backs off.
    scalers = {name: torch.amp.GradScaler(placement.device.type, init_scale=2.0 ** 10, enabled=fp16)
               for name in optimizers}
    labels = dataset.label_indices() if config.conditional else None
    images = TrainingImages(dataset, config.resolution, labels, config.seed)
    return Run(config, placement, images, generator, discriminator, generator_ema, optimizers, scalers,
               augment_strength=config.augment_p)


def _resume(run: Run) -> None:
    from nonesuch.progress import print_warning

    try:  # the newest checkpoint whose files match their hashes; damaged ones are named and passed over
        folder = checkpoint.newest_good_checkpoint(run.dir, warn=print_warning if run.placement.is_main else None)
    except checkpoint.CheckpointError as e:
        raise TrainError(str(e)) from e
    if folder is None:  # a new run, or one killed before its first checkpoint: start from scratch
        if run.config.init_from:
            _load_init_weights(run)
        if run.placement.is_main:
            _truncate_log(run.dir, 0)
        return
    try:
        state = checkpoint.load_training_checkpoint(folder, run.generator, run.discriminator, run.generator_ema,
                                                    run.optimizers, device=str(run.placement.device))
    except checkpoint.CheckpointError as e:
        raise TrainError(str(e)) from e
    run.images_seen, run.step, run.elapsed_s = state["images_seen"], state["step"], state["elapsed_s"]
    run.augment_strength = state.get("augment_strength", run.config.augment_p)
    run.lecam_anchors = tuple(state.get("lecam_anchors", (0.0, 0.0)))
    for name, scaler_state in state.get("loss_scalers", {}).items():
        if run.scalers[name].is_enabled():
            run.scalers[name].load_state_dict(scaler_state)
    if run.placement.is_main:
        _truncate_log(run.dir, run.images_seen)


def _load_init_weights(run: Run) -> None:
    """Fine-tuning: G, D and EMA from the source, checked against the hashes the config recorded
    when the run was created (a source that changed since would not be the run's start)."""
    from nonesuch.gan import init_from

    try:
        source = init_from.find_source(run.config.init_from)
        # The checked loader hashes the bytes it parses and refuses any that differ from the
        # recorded hashes: no separate pass over the files to compare first.
        init_from.load_source_weights(source, run.generator, run.discriminator, run.generator_ema,
                                      run.placement.device, run.config.init_sha256 or source.sha256())
    except init_from.InitError as e:
        raise TrainError(f"--init-from {run.config.init_from}: {e}") from e


def _truncate_log(run_dir: Path, images_seen: int) -> None:
    """Drop log lines written after the checkpoint we resume from: they will be written again.
    Streamed into the new log (a long run's is many MB); a log that is a FIFO or a device (the
    snapshot's append would block on it), or over run_info's bounds, is a TrainError naming it."""
    path = run_dir / "log.jsonl"
    if not os.path.lexists(path):
        return
    try:
        with atomic.atomic_path(path) as tmp, open(tmp, "w") as kept:
            for record in log_records(run_dir):      # half a line, from a kill mid-write, is dropped
                if record.get("images_seen", 0) <= images_seen:
                    kept.write(json.dumps(record) + "\n")
    except (checkpoint.CheckpointError, FileExistsError) as e:   # FileExistsError: not a file to replace
        raise TrainError(str(e)) from None


# -- one step ----------------------------------------------------------------------------------

def _step_random(run: Run) -> torch.Generator:
    """This step's random numbers: seeded by (seed, step, rank), so a resumed run redraws them."""
    seed = (run.config.seed * 1_000_003 + run.step) * 1009 + run.placement.rank
    return torch.Generator().manual_seed(seed & 0x7FFF_FFFF_FFFF_FFFF)


def _autocast(run: Run):
    dtype = amp_dtype(run.config.amp, run.placement.device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(run.placement.device.type, dtype=dtype)


def _latents(run: Run, count: int, random: torch.Generator) -> torch.Tensor:
    return torch.randn(count, run.config.arch.latent_dim, generator=random).to(run.placement.device)


def _apply(run: Run, name: str, module: torch.nn.Module, loss: torch.Tensor) -> None:
    optimizer, scaler = run.optimizers[name], run.scalers[name]
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    # Averaging the still-scaled gradients spreads an overflow on any process to all of them, so
    # every process skips the same steps and the weights stay identical.
    distributed.average_gradients(module, run.placement)
    scaler.step(optimizer)
    scaler.update()


def _penalty_due(run: Run) -> bool:
    """Lazy regularisation: the penalty every `interval` D steps, weighted by `interval`."""
    interval = run.config.gp_interval if run.config.loss == "wgan-gp" else run.config.r1_interval
    return run.step % interval == 0


def _augmenter(run: Run, random: torch.Generator):
    """x -> T(x) with this run's policy and current strength, drawing from `random`."""
    ops = augment.parse_policy(run.config.augment)
    return lambda images: augment.augment(images, ops, run.augment_strength, random)


def discriminator_step(run: Run, stage: Stage, reals, fakes, labels, random: torch.Generator) -> dict:
    """fakes: G's output for this step, still attached to G's graph; D trains on a detached copy.
    D sees every image through the augmentation T, the penalty's inputs included: the gradient
    is taken with respect to the un-augmented image, as DiffAugment's ns_DiffAugment_r1 does."""
    D, c = run.discriminator, run.config
    fakes = fakes.detach().float()
    D.requires_grad_(True)
    zero = torch.zeros((), device=reals.device)
    loss_scale = run.scalers["D"].get_scale() if run.scalers["D"].is_enabled() else 1.0
    seen_by_d = _augmenter(run, random)
    with _autocast(run):
        # One D call on [reals; fakes]: twice the batch per kernel is cheaper on CPU than two calls.
        scores = D(seen_by_d(torch.cat([reals, fakes])), None if labels is None else torch.cat([labels, labels]),
                   stage.alpha)
        real_scores, fake_scores = scores.float().chunk(2)
        if c.loss == "wgan-gp":
            loss = losses.wgan_discriminator(real_scores, fake_scores, c.drift)
            mix = torch.rand(len(reals), 1, 1, 1, generator=random).to(reals.device)
            penalty = (losses.wgan_gradient_penalty(D, reals, fakes, labels, stage.alpha, mix,
                                                    c.gp_weight * c.gp_interval, loss_scale=loss_scale,
                                                    augment=seen_by_d)
                       if _penalty_due(run) else zero)
        else:
            loss = losses.logistic_discriminator(real_scores, fake_scores)
            penalty = (losses.r1_penalty(D, reals, labels, stage.alpha, c.r1_gamma, c.r1_interval, loss_scale,
                                         augment=seen_by_d)
                       if _penalty_due(run) else zero)
    lecam = (c.lecam * losses.lecam_regulariser(real_scores, fake_scores, *run.lecam_anchors)
             if c.lecam > 0 else zero)
    _apply(run, "D", D, loss + penalty + lecam)
    _adapt_augmentation(run, real_scores, fake_scores)
    _move_lecam_anchors(run, real_scores, fake_scores)
    losses_now = {"loss_d": loss.detach(), "penalty": penalty.detach()}
    if c.lecam > 0:
        losses_now["lecam"] = lecam.detach()
    if c.augment != "off":  # a strength is news only when something is augmented
        losses_now["augment_p"] = torch.tensor(run.augment_strength)
    return losses_now


def _move_lecam_anchors(run: Run, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> None:
    """The anchors follow the mean scores over every process, so all ranks hold the same ones."""
    if run.config.lecam <= 0:
        return
    means = distributed.sum_over_processes(torch.stack([real_scores.detach().sum(), fake_scores.detach().sum(),
                                                        real_scores.new_tensor(float(len(real_scores)))]), run.placement)
    decay = run.config.lecam_decay
    run.lecam_anchors = tuple(decay * old + (1 - decay) * float(new / means[2])
                              for old, new in zip(run.lecam_anchors, means[:2]))


def _adapt_augmentation(run: Run, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> None:
    """ADA-style: move p by this step's overfitting statistic, summed over every process so all
    ranks move p alike."""
    c = run.config
    if c.augment_target <= 0 or c.augment == "off":
        return
    values = augment.overfitting_statistic(c.loss, real_scores, fake_scores)
    total = distributed.sum_over_processes(torch.stack([values.sum(), torch.tensor(float(len(values)))]),
                                           run.placement)
    r = float(total[0] / total[1])
    run.augment_strength = augment.adapt_strength(run.augment_strength, r, c.augment_target, c.batch,
                                                  c.augment_speed_kimg)


def generator_step(run: Run, stage: Stage, fakes, labels, random: torch.Generator) -> dict:
    """Score the same fakes with the just-updated D and train G through them: one G forward per
    step instead of two (the D step used a detached copy). G's gradient flows back through the
    augmentation, so G is never pushed to make augmented-looking images."""
    D, c = run.discriminator, run.config
    D.requires_grad_(False)  # D's weight gradients are not needed here: skip computing them
    with _autocast(run):
        scores = D(_augmenter(run, random)(fakes), labels, stage.alpha).float()
        loss = losses.wgan_generator(scores) if c.loss == "wgan-gp" else losses.logistic_generator(scores)
    _apply(run, "G", run.generator, loss)
    return {"loss_g": loss.detach()}


def training_step(run: Run) -> Stage:
    c, placement = run.config, run.placement
    stage = c.schedule.at(run.images_seen)
    random = _step_random(run)
    share = c.batch // placement.world_size
    flip = torch.rand(share, generator=random) < 0.5 if c.mirror else None
    reals, labels = run.images.batch(run.images_seen, c.batch, stage.resolution, stage.alpha, flip,
                                     placement.device, placement.rank, placement.world_size)
    with _autocast(run):
        fakes = run.generator(_latents(run, share, random), labels, stage.resolution, stage.alpha)  # [b, 3, r, r]
    stats = discriminator_step(run, stage, reals, fakes, labels, random)
    stats |= generator_step(run, stage, fakes, labels, random)
    run.images_seen += c.batch
    run.step += 1
    update_ema(run.generator_ema, run.generator, ema_beta(c.batch, run.images_seen, c.ema_kimg, c.ema_rampup))
    for key, value in stats.items():
        run.pending_losses.setdefault(key, []).append(value)
    return stage


# -- snapshots ---------------------------------------------------------------------------------

def _stage_dict(stage: Stage) -> dict:
    return {"index": stage.index, "kind": stage.kind, "resolution": stage.resolution, "alpha": stage.alpha}


def snapshot(run: Run, stage: Stage, rate: float, elapsed_s: float) -> dict:
    """Grid + checkpoint (+ metric) + log line, written by the main process only."""
    c = run.config
    record = {"images_seen": run.images_seen, "kimg": run.images_seen / 1000, "step": run.step,
              "stage": stage.name, "resolution": stage.resolution, "alpha": round(stage.alpha, 4),
              "img_per_s": round(rate, 2), "elapsed_s": round(elapsed_s, 1), "threads": torch.get_num_threads()}
    record |= {k: float(torch.stack(v).mean()) for k, v in run.pending_losses.items() if v}
    run.pending_losses.clear()
    divergence.stop_if_diverged(run, record)
    if not run.placement.is_main:
        return record
    latents, labels = snapshot_latents(c, run.placement.device)
    grid = run.dir / "grids" / f"{run.images_seen:09d}.png"
    save_grid(run.generator_ema, latents, labels, stage, grid)
    if c.metric_images > 0:
        record |= _metrics(run, stage)
    # Log first, checkpoint second: a kill between the two leaves a line that the resume (from
    # the previous checkpoint) drops and writes again, never a checkpoint without its line.
    with open(run.dir / "log.jsonl", "a") as log:
        log.write(json.dumps(record) + "\n")
    tensorboard_log.add_snapshot(run, record, grid)
    checkpoint.save_checkpoint(run.dir, run.generator, run.discriminator, run.generator_ema, run.optimizers,
                               {"images_seen": run.images_seen, "step": run.step, "elapsed_s": elapsed_s,
                                "stage": _stage_dict(stage), "seed": c.seed,
                                "augment_strength": run.augment_strength,
                                "lecam_anchors": list(run.lecam_anchors),
                                "loss_scalers": {k: v.state_dict() for k, v in run.scalers.items() if v.is_enabled()}},
                               c.keep_checkpoints)
    return record


def _metrics(run: Run, stage: Stage) -> dict:
    from nonesuch.metrics.evaluate import evaluate_generator

    G = run.generator_ema
    def sample(z, labels):
        return G(z, labels, stage.resolution, stage.alpha)
    return evaluate_generator(sample, run.images.dataset, run.config.resolution, run.config.metric_images,
                              latent_dim=run.config.arch.latent_dim,
                              num_classes=run.config.num_classes,
                              device=run.placement.device, seed=run.config.seed)


# -- the loop ----------------------------------------------------------------------------------

def prepare_run(config: TrainConfig, held: contextlib.ExitStack) -> tuple[TrainConfig, Dataset]:
    """Validate, then (only then) take RUN/'s lock for as long as `held` lasts, create RUN/ and write
    its config.json if new (or its thread count changed). Rank 0 holds the lock: the other
    processes of a torchrun job are the same run; a second `train` into RUN/ is refused."""
    from nonesuch.folder_lock import FolderLock, FolderLockedError

    config, dataset = validate(config)
    config_path = Path(config.out) / "config.json"
    if int(os.environ.get("RANK", "0")) == 0:
        try:
            held.enter_context(FolderLock(config.out, what="train"))
        except FolderLockedError as e:
            raise TrainError(str(e)) from e
        if config_needs_saving(config_path, config):
            atomic.write_json(config_path, config.to_dict())
    return config, dataset


def train(config: TrainConfig, on_snapshot=None, until_images: int | None = None,
          max_seconds: float | None = None) -> Path:
    """Train (or resume) the run described by `config`; returns the run folder.
    until_images: stop early (with a checkpoint) once this many images are seen.
    max_seconds: stop early (with a checkpoint) after this much wall time in this call; single
    process only, since ranks would not agree on when time is up."""
    try:
        placement = distributed.setup(config.device)
    except ValueError as e:
        raise TrainError(str(e)) from e
    config.threads = distributed.training_threads(config.threads)
    torch.set_num_threads(config.threads)
    if config.batch % (4 * placement.world_size):
        raise TrainError(f"--batch {config.batch}: must split into multiples of 4 over {placement.world_size} processes")
    if max_seconds is not None and placement.world_size > 1:
        raise TrainError("a time limit works in a single process only; use --kimg under torchrun")
    with contextlib.ExitStack() as held:
        config, dataset = prepare_run(config, held)
        distributed.barrier(placement)
        run = _build(config, placement, dataset)
        _resume(run)
        startup.announce(run)
        _loop(run, on_snapshot, until_images, max_seconds)
        if placement.is_main and run.images_seen >= config.schedule.total_images:
            save_progress_gif(run.dir / "grids", run.dir / "progress.gif")
    return run.dir


def _loop(run: Run, on_snapshot, until_images: int | None, max_seconds: float | None = None) -> None:
    from nonesuch.gan.progress_line import TrainingProgress

    c = run.config
    total, every = c.schedule.total_images, max(int(c.snapshot_kimg * 1000), c.batch)
    stop = min(total, until_images or total)
    deadline = time.perf_counter() + max_seconds if max_seconds is not None else float("inf")
    started_images, training_s = run.images_seen, 0.0  # img/s counts training steps, not snapshots
    with TrainingProgress(c.schedule, run.images_seen, enabled=c.progress and run.placement.is_main) as progress:
        while run.images_seen < stop:
            if time.perf_counter() >= deadline:
                stop = run.images_seen  # the snapshot below is the last one
            before, step_started = run.images_seen, time.perf_counter()
            stage = training_step(run)
            step_s = time.perf_counter() - step_started
            training_s += step_s
            progress.step(stage, run.images_seen - before, step_s)
            rate = (run.images_seen - started_images) / max(training_s, 1e-9)
            progress.update(stage, run.images_seen, rate, {k: v[-1] for k, v in run.pending_losses.items() if v})
            if run.images_seen // every > before // every or run.images_seen >= stop:
                if c.metric_images > 0:
                    progress.status(f"computing KID/FID/precision/recall on {c.metric_images} generated images")
                record = snapshot(run, stage, rate, run.elapsed_s + training_s)
                progress.log(record)
                if on_snapshot is not None:
                    on_snapshot(record, run)
                distributed.barrier(run.placement)
