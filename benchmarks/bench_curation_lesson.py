"""The lesson behind nonesuch, measured: the same GAN, the same budget, on a mixed set and on a
homogeneous subset cut by `curate`.

    all emoji (1,896 images, 9 groups)   vs   smileys cut by `curate` from 50 page actions
                                              (--pages 50; or --pages 0 --labels 100: one by one)

Both arms train the `cpu` preset for the same number of images with the same seed. Scores follow
`nonesuch metrics`' protocol: --generated images of each arm's EMA generator (fixed latents)
against ALL the real images of a reference, KID as the mean ± sd over 100 subsets, with N stated,
plus FID, precision/recall (k=3) and the memorised share. Two references:

  own      each arm's own training data: how well did the GAN learn what it was given?
  smileys  the archive's real smileys-emotion images, for both arms: which generator makes the
           target better?

KID is unbiased in N; FID is not (it grows as N shrinks), so compare FIDs only between rows with
the same reference.

    .venv/bin/python benchmarks/bench_curation_lesson.py [--kimg 15] [--pages 50] [--out out/lesson15]
    .venv/bin/python benchmarks/bench_curation_lesson.py --score-only   # rescore existing runs

Every step is a `nonesuch` command, printed before it runs, so this is also a recipe; a step
whose output exists is resumed (training) or skipped (the cut).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

NONESUCH = [sys.executable, "-m", "nonesuch"]
GRID_SEEDS = 36


def nonesuch(*args: str) -> str:
    print("$ nonesuch " + " ".join(args), flush=True)
    # Every core, explicitly: training otherwise leaves out the cores busy when it starts, and
    # both arms of the comparison must train with the same number of threads.
    env = {"OMP_NUM_THREADS": str(os.cpu_count() or 1), **os.environ, "NONESUCH_NO_REEXEC": "1"}
    result = subprocess.run([*NONESUCH, *args], env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"failed: {result.stderr.strip().splitlines()[-1:]}")
    return result.stdout


def sample_grid(run: Path, title: str) -> Image.Image:
    """Seeds 0-35 of the run's EMA generator, as `nonesuch generate --seeds 0-35 --no-screen` draws them."""
    from nonesuch.data.grid import image_grid
    from nonesuch.gan.generator import load_generator

    grid = image_grid(load_generator(run).sample_seeds(list(range(GRID_SEEDS))), columns=6)
    grid = grid.resize((grid.width * 3, grid.height * 3), Image.NEAREST)
    titled = Image.new("RGB", (grid.width, grid.height + 28), "white")
    titled.paste(grid, (0, 28))
    ImageDraw.Draw(titled).text((6, 6), title, fill="black")
    return titled


ARMS = ("all32", "curated32")
TARGET_GROUP = "smileys-emotion"


def real_features(dataset) -> np.ndarray:
    """[N, 2048] Inception features of every real image of the dataset, at its resolution."""
    from nonesuch.metrics.evaluate import uint8_to_unit
    from nonesuch.metrics.inception import inception_features

    return inception_features(uint8_to_unit(np.asarray(dataset.images()))).numpy()


def generated_features(run: Path, count: int) -> np.ndarray:
    """[count, 2048] Inception features of `count` images of the run's EMA generator (fixed latents)."""
    from nonesuch.gan.generator import load_generator
    from nonesuch.metrics.evaluate import fake_features

    loaded = load_generator(run)
    return fake_features(loaded.synthesize, count, loaded.latent_dim, loaded.resolution, None, seed=0)


def score_arms(work: Path, generated: int) -> list[dict]:
    """The metrics protocol for both arms against their own data and against the target group's reals."""
    from nonesuch.data import Dataset
    from nonesuch.metrics.evaluate import score_features

    datasets = {arm: Dataset(work / arm) for arm in ARMS}
    for arm in ARMS:
        if not (work / f"run-{arm}" / "config.json").is_file():
            sys.exit(f"{work / f'run-{arm}'}: no training run; run without --score-only first")
    t0 = time.perf_counter()
    reference = {"own:" + arm: real_features(ds) for arm, ds in datasets.items()}
    # The target group's reals are a subset of the whole set: their rows, not a second pass.
    whole = datasets["all32"]
    reference[TARGET_GROUP] = reference["own:all32"][[label == TARGET_GROUP for label in whole.labels()]]
    fakes = {arm: generated_features(work / f"run-{arm}", generated) for arm in ARMS}
    print(f"Inception features of {sum(len(ds) for ds in datasets.values())} real and {generated * len(ARMS)} "
          f"generated images: {time.perf_counter() - t0:.0f} s")
    rows = []
    for arm in ARMS:
        ds = datasets[arm]
        share = sum(1 for label in ds.labels() if label == TARGET_GROUP) / len(ds)
        for ref in ("own:" + arm, TARGET_GROUP):
            rows.append({"arm": arm, "train images": len(ds), "target share": round(share, 2),
                         "reference": "own data" if ref.startswith("own:") else f"{TARGET_GROUP} reals",
                         **score_features(reference[ref], fakes[arm])})
    return rows


def print_scores(rows: list[dict]) -> None:
    print(f"\n{rows[0]['n_generated']} generated images per arm against every real image of the reference "
          f"(N real in the table), 32 px; KID mean ± sd over {rows[0]['kid_subsets']} subsets. KID is unbiased "
          f"in N; FID is not, so compare FIDs only between rows with the same reference.")
    print(f"{'arm':<10} {'images':>7} {'target':>7}  {'reference':<22} {'N real':>6} {'KID x1e3':>14} {'FID':>6} "
          f"{'precision':>9} {'recall':>6} {'memorised':>9}")
    for r in rows:
        kid_text = f"{r['kid_x1e3']:.1f} ± {r['kid_std_x1e3']:.1f}"
        print(f"{r['arm']:<10} {r['train images']:>7} {r['target share']:>7.2f}  {r['reference']:<22} "
              f"{r['n_real']:>6} {kid_text:>14} {r['fid']:>6.1f} {r['precision']:>9.3f} {r['recall']:>6.3f} "
              f"{r['memorised']:>9.3f}")


def train_arms(work: Path, kimg: float, labels: int, pages: int) -> dict[str, float]:
    """Ingest, curate and train both arms; returns each arm's training seconds."""
    if not (work / "all32" / "dataset.json").exists():
        nonesuch("datasets", "openmoji", "--out", str(work / "openmoji"), "--size", "128")
        nonesuch("ingest", str(work / "openmoji"), "--out", str(work / "all32"), "--resolution", "32")
    nonesuch("curate", "embed", str(work / "all32"))
    if not (work / "curated32" / "dataset.json").exists():
        how = ["--pages", "--budget", str(pages)] if pages else ["--budget", str(labels)]
        print(nonesuch("curate", "label", str(work / "all32"), "--target", "smileys", "--oracle", TARGET_GROUP,
                       *how, "--no-browser").strip())
        nonesuch("curate", "apply", str(work / "all32"), "--target", "smileys", "--out", str(work / "curated32"))
    seconds = {}
    for arm in ARMS:
        t0 = time.perf_counter()
        nonesuch("train", str(work / arm), "--out", str(work / f"run-{arm}"), "--preset", "cpu", "--kimg", str(kimg),
                 "--snapshot-kimg", str(kimg * 7), "--seed", "0")
        seconds[arm] = time.perf_counter() - t0
    return seconds


def write_side_by_side(work: Path, rows: list[dict], path: Path) -> None:
    own = {r["arm"]: r for r in rows if r["reference"] == "own data"}
    target = {r["arm"]: r for r in rows if r["reference"] != "own data"}
    grids = [sample_grid(work / f"run-{arm}", f"{arm}: KID x1e3 {own[arm]['kid_x1e3']:.1f} own, "
                                             f"{target[arm]['kid_x1e3']:.1f} vs {TARGET_GROUP}")
             for arm in ARMS]
    side = Image.new("RGB", (sum(g.width for g in grids) + 16, max(g.height for g in grids)), "white")
    x = 0
    for g in grids:
        side.paste(g, (x, 0))
        x += g.width + 16
    path.parent.mkdir(parents=True, exist_ok=True)
    side.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("out/lesson15"))
    parser.add_argument("--kimg", type=float, default=15.0, help="thousands of images per phase (7 phases to 32 px); "
                        "15 is the README's figure (~36 min on 2 cores)")
    parser.add_argument("--generated", type=int, default=1000, help="images generated per arm for the scores")
    parser.add_argument("--pages", type=int, default=50, help="the curated cut: this many page actions (a page "
                        "confirm or a flip) of an oracle person; 0: one by one, --labels labels")
    parser.add_argument("--labels", type=int, default=100, help="with --pages 0: oracle labels for the curated cut")
    parser.add_argument("--grid", type=Path, default=None,
                        help="side-by-side grids (default: docs/lesson-curation.png after training; "
                             "with --score-only only if given)")
    parser.add_argument("--score-only", action="store_true", help="Rescore the run folders in --out; train nothing.")
    args = parser.parse_args()
    work = args.out
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not args.score_only:
        for arm, seconds in train_arms(work, args.kimg, args.labels, args.pages).items():
            print(f"trained {arm} in {seconds:.0f} s")
    rows = score_arms(work, args.generated)
    print_scores(rows)
    from nonesuch import atomic

    atomic.write_json(work / "scores.json", {"rows": rows})
    grid = args.grid or (None if args.score_only else Path("docs/lesson-curation.png"))
    if grid is not None:
        write_side_by_side(work, rows, grid)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scores: {work / 'scores.json'}; grids: {grid or 'not written'}; total {time.perf_counter() - started:.0f} s; "
          f"peak RSS {peak:.0f} MiB; {platform.processor() or platform.machine()}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
