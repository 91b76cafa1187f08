"""`nonesuch explain RUN --target SPEC --out DIR`: the config, the checks, and one call per stage.

    report = explain_to_folder(ExplainConfig(run="runs/emoji", targets=["imagenet:lemon"], out="out/lemon"))

Every user error (bad spec, unfit ONNX file, missing keys, bad run) is raised before the first
iteration, as ExplainError, CheckpointError or ProvenanceError, one line each.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from nonesuch.bounds import check_positive, check_range
from nonesuch.cpus import check_cpu_count, usable_cpu_count
from nonesuch.explain.code_space import CODES, DEFAULT_STEPS
from nonesuch.explain.errors import ExplainError
from nonesuch.progress import progress_bar

# Bounds a hostile or mistyped command line meets before any work (each would otherwise hang or
# exhaust memory): the seeds are one batch, ~25 MB a seed at 64 px (64 seeds: 1.8 GB, measured);
# the ascent keeps one objective row per iteration; Lite0 needs 32 px and gains nothing past 512
# on 32-128 px generators, while 20,000 px asks for 77 GB.
MAX_SEEDS = 64
MAX_ITERATIONS = 10_000
CLASSIFIER_SIZES = (32, 512)


@dataclass
class ExplainConfig:
    run: str
    targets: list[str]                       # specs, see targets.py
    out: str
    weight: float | None = None              # two targets: weights (1 - W, W); default 0.5
    combine: str = "softmin"                 # several targets: softmin or sum (objective.py: measured)
    minimize: bool = False                   # drive every target down instead
    seeds: list[int] = field(default_factory=lambda: list(range(8)))
    code: str = "box"                        # box (4x4 features) or sphere (z): measured, README
    iterations: int = 200
    step_start: float | None = None          # None: the code's own (code_space.DEFAULT_STEPS)
    realism: float = 0.0                     # weight of the floor on the run's discriminator (realism.py)
    ceiling: float | None = None             # percentile of the reals' scores past which a target earns
                                             # nothing; None: climb without end, as DGN-AM (objective.py)
    classifier_size: int = 128               # Lite0 input side; see README for why not 224
    precision: str = "auto"                  # gradient passes: bf16 autocast where the CPU has it (README)
    reals: str | None = None                 # dataset for percentiles; default: the run's own
    checkpoint: str | None = None
    size: int = 256
    format: str = "png"
    sign: bool = True
    gif: bool = False
    threads: int | None = None               # torch threads; default: every usable core (on a machine
                                             # other jobs load, 1: two threads spin-wait, README)


@dataclass
class ExplainOutcome:
    report: dict                     # what explain.json holds
    explanation: object              # explain.Explanation: pixels, scores, standardisation, ascent
    real_scores: np.ndarray | None   # [M, T] the targets' scores of the real images


def explain_to_folder(config: ExplainConfig, show_progress: bool = True,
                      reuse: ExplainOutcome | None = None) -> ExplainOutcome:
    """Run one explanation and write its folder. `reuse`: an earlier outcome with the same run,
    targets and reals, whose target statistics and real-image scores are then not recomputed."""
    import torch

    from nonesuch.explain.explain import explain
    from nonesuch.explain.optimise import AscentConfig
    from nonesuch.explain.outputs import objective_of, write_gif, write_images, write_report
    from nonesuch.explain.targets import parse_target
    from nonesuch.gan.generator import load_generator
    from nonesuch.explain.objective import pair_weights
    from nonesuch.provenance.keys import watermark_config

    check_config(config)
    if config.step_start is None:         # resolved here, so explain.json records the step taken
        config = replace(config, step_start=DEFAULT_STEPS[config.code])
    try:
        weights = pair_weights(len(config.targets), config.weight)
    except ValueError as error:
        raise ExplainError(str(error)) from None
    watermark_config()                                  # the key must exist before any work
    torch.set_num_threads(config.threads or usable_cpu_count())
    loaded = load_generator(config.run, checkpoint=config.checkpoint)
    targets = [parse_target(spec, config.classifier_size) for spec in config.targets]
    reals, real_pixels = real_images(config, loaded)
    real_scores = reuse.real_scores if reuse is not None else None
    if real_pixels is not None and real_scores is None:
        from nonesuch.explain.objective import score_images
        real_scores = score_images(targets, real_pixels)            # [M, T]
    directions = [-1 if config.minimize else 1] * len(targets)
    ceilings = None
    if config.ceiling is not None:
        if real_scores is None:
            raise ExplainError(f"--ceiling needs real images and {config.run}'s training set is not there: "
                               f"pass --reals DATASET")
        from nonesuch.explain.objective import real_ceilings
        ceilings = real_ceilings(real_scores, config.ceiling, directions)
    ascent = AscentConfig(iterations=config.iterations, step_start=config.step_start,
                          precision=config.precision,
                          frame_every=max(1, config.iterations // 25) if config.gif else 0)
    with progress_bar("explain", config.iterations, disable=not show_progress) as advance:
        explanation = explain(loaded, targets, config.seeds, weights=weights,
                              directions=directions, ceilings=ceilings,
                              code=config.code, ascent=ascent,
                              standardisation=None if reuse is None else reuse.explanation.standardisation,
                              advance=advance, realism=config.realism, combine=config.combine)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"code": config.code, "iterations": config.iterations, "step_start": config.step_start,
                "realism": config.realism, "combine": config.combine, "ceiling": config.ceiling,
                "classifier_size": config.classifier_size, "precision": explanation.ascent.precision}
    records = write_images(explanation, loaded, objective_of(explanation, config.targets, settings),
                           out, config.size, config.format, config.sign)
    report = write_report(out, config, explanation, config.targets, real_scores, records, reals, ceilings)
    if config.gif:
        write_gif(out, explanation)
    return ExplainOutcome(report, explanation, real_scores)


def check_config(config: ExplainConfig) -> None:
    from nonesuch.explain.objective import COMBINATIONS
    from nonesuch.gan.precision import PRECISIONS
    from nonesuch.generate.sampling import MAX_SIZE
    from nonesuch.provenance.xmp import FORMATS

    if not config.targets:
        raise ExplainError("give at least one --target (imagenet:CLASS, curate:DATASET:TARGET or onnx:MODEL.onnx:UNIT)")
    if config.code not in CODES:
        raise ExplainError(f"--code {config.code!r}: choose one of {', '.join(CODES)}")
    if not 1 <= len(config.seeds) <= MAX_SEEDS:
        raise ExplainError(f"--seeds: {len(config.seeds)} seeds; explain optimises them as one batch, "
                           f"so give 1 to {MAX_SEEDS} (run again for the next ones)")
    if config.size < 64:
        raise ExplainError(f"--size {config.size} is too small: the watermark cannot be read below 64 px")
    if config.combine not in COMBINATIONS:
        raise ExplainError(f"--combine {config.combine!r}: choose one of {', '.join(COMBINATIONS)}")
    if config.ceiling is not None and not 0.0 < config.ceiling <= 100.0:
        raise ExplainError(f"--ceiling is a percentile of the real images, in (0, 100], got {config.ceiling}")
    try:
        check_range("--iterations", config.iterations, 1, MAX_ITERATIONS)
        check_range("--size", config.size, 64, MAX_SIZE, " px")
        check_range("--classifier-size", config.classifier_size, *CLASSIFIER_SIZES, " px")
        if config.step_start is not None:
            check_positive("--step", config.step_start)
        check_range("--realism", config.realism, 0.0)
        if config.threads is not None:
            check_cpu_count("--threads", config.threads)
    except ValueError as error:
        raise ExplainError(str(error)) from None
    if config.precision not in PRECISIONS:
        raise ExplainError(f"--precision {config.precision!r}: choose one of {', '.join(PRECISIONS)}")
    if config.format not in FORMATS:
        raise ExplainError(f"--format {config.format!r}: choose one of {', '.join(FORMATS)}")


def real_images(config: ExplainConfig, loaded) -> tuple[str | None, np.ndarray | None]:
    """(dataset path, [M, R, R, 3] uint8 at the generator's resolution) for the percentiles: --reals,
    else the dataset the run was trained on if it is still there, else (None, None)."""
    from nonesuch.data import Dataset
    from nonesuch.data.dataset import DatasetError

    path = config.reals or loaded.info.trained_on.get("dataset")
    if not path or (config.reals is None and not Path(path).is_dir()):
        return None, None
    try:
        dataset = Dataset(path)
    except DatasetError as error:
        raise ExplainError(f"--reals: {error}") from None
    if loaded.resolution not in dataset.resolutions:
        raise ExplainError(f"--reals {path}: has no {loaded.resolution} px images "
                           f"(has {dataset.resolutions}); pass a dataset at the generator's size")
    return str(path), np.asarray(dataset.images(loaded.resolution))
