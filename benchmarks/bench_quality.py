"""Time to quality: what each training recipe reaches on the same data in the same CPU time.

    .venv/bin/python benchmarks/bench_quality.py --minutes 10 --seeds 0 1 --arms paper defaults

Same data (the 171 OpenMoji smileys at 32 px), same wall-clock budget per arm on the same fixed
threads, arms run one after another (never two at once) so each has the machine to itself. Each
arm's schedule (kimg per phase) is fitted to the budget from a short speed probe of that arm's
own recipe, so every arm grows all the way to 32 px: a slower recipe sees fewer images, which is
exactly its cost. Checkpoints are scored at several points of the budget (a curve) with the same
protocol as `nonesuch metrics`: KID x10^3 (mean and spread over subsets), FID with its N's,
precision/recall (k=3) and memorisation, N generated against all real images. A grid per arm.

Arms:
  paper      ProGAN as published: WGAN-GP every step, fp32, no augmentation
  defaults   `nonesuch train` as shipped (WGAN-GP with a lazy GP every 4 steps, bf16 where the
             CPU has it, no augmentation: DiffAugment measured worse here, see the README)
  augment    the defaults with DiffAugment colour, translation and cutout on everything D sees
  shift      the defaults with DiffAugment translation and cutout only (no colour change)
  nsr1       the defaults with the non-saturating loss + R1 and DiffAugment (DiffAugment's recipe)
  adaptive   DiffAugment with ADA-style adaptive strength (target 0.6)
  nomirror   the defaults without random horizontal flips of the reals (emoji are not all symmetric)
  lecam      the defaults with LeCam regularisation on D, weight 0.03 (Tseng et al. 2021; with
             WGAN scores ~±5 apart that pulls about as hard as the WGAN loss itself)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARMS = {
    "paper": {"loss": "wgan-gp", "amp": "off", "gp_interval": 1, "augment": "off"},
    "defaults": {},
    "augment": {"augment": "color,translation,cutout"},
    "shift": {"augment": "translation,cutout"},
    "nsr1": {"loss": "ns-r1", "augment": "color,translation,cutout"},
    "adaptive": {"augment": "color,translation,cutout", "augment_target": 0.6},
    "nomirror": {"mirror": False},
    "lecam": {"lecam": 0.03},
}
CURVE = (0.25, 0.5, 0.75, 1.0)   # fractions of the budget at which each run is scored
FAST_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736"}


def make_dataset(folder: Path, group: str = "smileys-emotion", resolution: int = 32) -> Path:
    """An OpenMoji group (by default the 171 smileys), rendered and ingested by nonesuch itself."""
    from nonesuch.data.ingest import IngestConfig, ingest
    from nonesuch.data.openmoji import render_openmoji

    render_openmoji(folder / "png", 128, groups=[group])
    dataset = folder / f"{group}{resolution}"
    ingest([folder / "png" / group], dataset, IngestConfig(resolution=resolution), show_progress=False)
    return dataset


# -- in a child process: one arm, one seed --------------------------------------------------------

def probe_seconds_per_image(dataset: str, options: dict, threads: int) -> dict[int, float]:
    """Seconds per image of this recipe at each resolution (a few steps each, after warm-up)."""
    import torch

    from nonesuch.gan import distributed
    from nonesuch.gan.config import resolve_config
    from nonesuch.gan.train import _build, training_step, validate

    torch.set_num_threads(threads)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        config, ds = validate(resolve_config(dataset, tmp, {**options, "kimg": 10.0}))
        run = _build(config, distributed.Placement(distributed.choose_device("cpu")), ds)
        start = 0
        for kind, resolution, length in config.schedule.stages():
            if kind == "stable":
                run.images_seen = start
                training_step(run)  # warm-up
                began, steps = time.perf_counter(), 0
                while steps < 4 or time.perf_counter() - began < 1.5:
                    training_step(run)
                    steps += 1
                out[resolution] = (time.perf_counter() - began) / (steps * config.batch)
            start += length
    return out


def train_arm(dataset: str, run_dir: str, arm: str, seed: int, minutes: float, threads: int) -> dict:
    import torch

    from nonesuch.gan.config import resolve_config
    from nonesuch.gan.train import train

    options = {"preset": "cpu", "resolution": 32, "seed": seed, **ARMS[arm]}
    per_image = probe_seconds_per_image(dataset, options, threads)
    # The schedule has one stable phase at 4 px and a fade + a stable phase at every larger size.
    seconds_per_kimg = 1000 * sum(s * (1 if r == 4 else 2) for r, s in per_image.items())
    kimg = round(0.97 * minutes * 60 / seconds_per_kimg, 2)
    snapshot = max(0.5, round(kimg * 7 / 24, 2))   # ~24 checkpoints over the run: a fine curve
    config = resolve_config(dataset, run_dir, {**options, "kimg": kimg, "snapshot_kimg": snapshot,
                                               "keep_checkpoints": 1000, "progress": False})
    torch.set_num_threads(threads)
    cpu_before, began = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    train(config, max_seconds=minutes * 60)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    return {"arm": arm, "seed": seed, "kimg_per_phase": kimg, "wall_s": time.perf_counter() - began,
            "cpu_s": (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime),
            "probe_ms_per_image": {r: round(s * 1000, 3) for r, s in per_image.items()}}


# -- in the parent: scoring ------------------------------------------------------------------------

def checkpoints_on_the_curve(run_dir: Path, budget_s: float) -> list[tuple[float, Path]]:
    """For each point of CURVE, the last checkpoint written by then (training seconds, folder)."""
    from nonesuch.gan.checkpoint import list_checkpoints, read_state

    folders = [(read_state(f)["elapsed_s"], f) for f in list_checkpoints(run_dir)]
    picked = []
    for fraction in CURVE:
        before = [(s, f) for s, f in folders if s <= fraction * budget_s * 1.02]
        if before:
            picked.append((fraction, max(before, key=lambda x: x[0])[1]))
    return picked


def score(run_dir: Path, folder: Path, dataset: Path, generated: int, seed: int) -> dict:
    """The `nonesuch metrics` protocol on one checkpoint's EMA generator: `generated` images
    against every real image of the dataset."""
    from nonesuch.data.dataset import Dataset
    from nonesuch.gan.generator import load_generator
    from nonesuch.metrics.evaluate import evaluate_generator

    loaded = load_generator(run_dir, folder)
    scores = evaluate_generator(loaded.synthesize, Dataset(dataset), loaded.resolution, generated,
                                loaded.latent_dim, seed=seed)
    scores.pop("closest_pairs", None)
    return scores


def save_arm_grid(run_dir: Path, out: Path) -> None:
    """Seeds 0-63 of the run's final EMA generator, the way `nonesuch generate --seeds` makes them."""
    from nonesuch.data.grid import image_grid, upscale_for_viewing
    from nonesuch.gan.generator import load_generator

    pixels = load_generator(run_dir).sample_seeds(list(range(64)))
    upscale_for_viewing(image_grid(pixels, columns=8)).save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=["paper", "defaults"], choices=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per arm and seed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--generated", type=int, default=2000, help="images generated per score")
    parser.add_argument("--out", default="out/bench-quality", help="runs, grids and results.json")
    parser.add_argument("--dataset", help="an existing 32 px dataset (default: render and ingest the smileys)")
    parser.add_argument("--score-only", action="store_true", help="rescore the runs already in --out")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # dataset arm seed
    args = parser.parse_args()
    out = Path(args.out)
    if args.child:
        dataset, arm, seed = args.child
        result = train_arm(dataset, str(out / f"{arm}-seed{seed}"), arm, int(seed), args.minutes, args.threads)
        print(json.dumps(result))
        return
    out.mkdir(parents=True, exist_ok=True)
    dataset = Path(args.dataset) if args.dataset else (out / "smileys-emotion32" if (out / "smileys-emotion32").is_dir()
                                                       else make_dataset(out))
    trained = {}
    for arm in args.arms:
        for seed in args.seeds:
            run_dir = out / f"{arm}-seed{seed}"
            if args.score_only or (run_dir / "arm.json").is_file():
                trained[(arm, seed)] = json.loads((run_dir / "arm.json").read_text())
                continue
            print(f"training {arm} seed {seed} for {args.minutes:g} min ...", flush=True)
            child = subprocess.run(
                [sys.executable, __file__, "--minutes", str(args.minutes), "--threads", str(args.threads),
                 "--out", str(out), "--child", str(dataset), arm, str(seed)],
                env={**os.environ, **FAST_MALLOC, "OMP_NUM_THREADS": str(args.threads)},
                capture_output=True, text=True)
            if child.returncode:
                print(child.stderr[-3000:])
                continue
            trained[(arm, seed)] = json.loads(child.stdout.strip().splitlines()[-1])
            (run_dir / "arm.json").write_text(json.dumps(trained[(arm, seed)], indent=2))
    rows = []
    for (arm, seed), info in trained.items():
        run_dir = out / f"{arm}-seed{seed}"
        for fraction, folder in checkpoints_on_the_curve(run_dir, args.minutes * 60):
            s = score(run_dir, folder, dataset, args.generated, seed)
            rows.append({"arm": arm, "seed": seed, "minutes": round(fraction * args.minutes, 2),
                         "kimg_seen": int(folder.name) / 1000, **s})
            print(json.dumps(rows[-1]), flush=True)
        save_arm_grid(run_dir, out / f"grid-{arm}-seed{seed}.png")
    (out / "results.json").write_text(json.dumps({"arms": {f"{a}-{s}": i for (a, s), i in trained.items()},
                                                  "rows": rows}, indent=2))
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    import numpy as np

    print(f"\n{'arm':<10} {'min':>5} {'KID x1e3':>14} {'FID':>7} {'precision':>9} {'recall':>7} {'memorised':>9}  seeds")
    keys = sorted({(r["arm"], r["minutes"]) for r in rows})
    for arm, minutes in keys:
        group = [r for r in rows if r["arm"] == arm and r["minutes"] == minutes]
        mean = lambda k: float(np.mean([r[k] for r in group]))
        # The spread over seeds where there are several, else the one run's spread over KID subsets.
        spread = (float(np.std([r["kid_x1e3"] for r in group])) if len(group) > 1
                  else group[0]["kid_std_x1e3"])
        print(f"{arm:<10} {minutes:>5g} {mean('kid_x1e3'):>8.1f} ± {spread:<4.1f} {mean('fid'):>7.1f} "
              f"{mean('precision'):>9.3f} {mean('recall'):>7.3f} {mean('memorised'):>9.3f}  {len(group)}")


if __name__ == "__main__":
    main()
