"""The lesson behind nonesuch, measured: the same GAN, the same budget, on a mixed set and on a
homogeneous subset cut with 100 labels.

    all emoji (1,896 images, 9 groups)   vs   smileys cut by `curate` from 100 oracle labels

Both arms train the `cpu` preset for the same number of images with the same seed. Scores are
taken at EQUAL N: N = the smaller training set (129 curated images), N generated images per arm,
several random draws (mean ± sd), against two references:

  own      each arm's own training data: how well did the GAN learn what it was given?
  smileys  the archive's real smileys-emotion images, for both arms: which generator makes the
           target better?

KID is unbiased in N, so its value does not depend on the N chosen; FID is biased (it grows as N
shrinks), so FIDs are comparable only between rows of one table, never with FIDs at another N.

    .venv/bin/python benchmarks/bench_curation_lesson.py [--kimg 15] [--draws 5] [--out out/lesson15]
    .venv/bin/python benchmarks/bench_curation_lesson.py --score-only   # rescore existing runs

Every step is a `nonesuch` command, printed before it runs, so this is also a recipe.
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
    import torch

    from nonesuch.data.grid import image_grid
    from nonesuch.gan.checkpoint import load_generator

    loaded = load_generator(run)
    z = torch.randn(GRID_SEEDS, loaded.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        images = loaded.generator(z, None).clamp(-1, 1).add(1).mul(127.5).round().byte()
    grid = image_grid(images.permute(0, 2, 3, 1).numpy(), columns=6)
    grid = grid.resize((grid.width * 3, grid.height * 3), Image.NEAREST)
    titled = Image.new("RGB", (grid.width, grid.height + 28), "white")
    titled.paste(grid, (0, 28))
    ImageDraw.Draw(titled).text((6, 6), title, fill="black")
    return titled


ARMS = ("all32", "curated32")
TARGET_GROUP = "smileys-emotion"


def real_features(dataset, indices: np.ndarray) -> np.ndarray:
    """[len(indices), 2048] Inception features of these real images at the dataset's resolution."""
    from nonesuch.metrics.evaluate import uint8_to_unit
    from nonesuch.metrics.inception import inception_features

    pixels = np.asarray(dataset.images()[np.sort(indices)])        # [n, R, R, 3] uint8
    features = inception_features(uint8_to_unit(pixels)).numpy()
    return features[np.argsort(np.argsort(indices))]               # back in the order asked for


def generated_features(run: Path, count: int) -> np.ndarray:
    """[count, 2048] Inception features of `count` images of the run's EMA generator (fixed latents)."""
    from nonesuch.gan.checkpoint import load_generator
    from nonesuch.metrics.evaluate import fake_features

    loaded = load_generator(run)
    return fake_features(loaded.generator, count, loaded.latent_dim, loaded.resolution, None, seed=0)


def draw_scores(reference: np.ndarray, fakes: np.ndarray, n: int, draws: int, seed: int) -> dict:
    """FID and KID of `draws` disjoint draws of n fakes, each against n reals drawn afresh from
    `reference` (without replacement within a draw). reference [R, 2048], fakes [draws * n, 2048]."""
    from nonesuch.metrics.distances import fid, kid

    rng = np.random.default_rng(seed)
    fids, kids = [], []
    for d in range(draws):
        real = reference[rng.choice(len(reference), n, replace=False)]
        fake = fakes[d * n:(d + 1) * n]
        fids.append(fid(real, fake))
        kids.append(kid(real, fake, subsets=1, subset_size=n))   # one subset = all n: no resampling noise
    return {"fid": (float(np.mean(fids)), float(np.std(fids))), "kid": (float(np.mean(kids)), float(np.std(kids)))}


def reference_indices(datasets: dict, n: int, draws: int) -> dict[str, tuple[object, np.ndarray]]:
    """Each reference set: (dataset, indices of its images whose features are computed).
    A large set is capped at draws x n images (a random subset) to bound the Inception time."""
    rng = np.random.default_rng(0)
    whole = datasets["all32"]
    targets = np.flatnonzero(np.array([label == TARGET_GROUP for label in whole.labels()]))
    refs = {"own:" + arm: (ds, np.arange(len(ds))) for arm, ds in datasets.items()}
    refs[TARGET_GROUP] = (whole, targets)
    for name, (ds, idx) in refs.items():
        if len(idx) < n:
            sys.exit(f"{ds.root}: reference {name!r} has {len(idx)} images, fewer than N = {n}")
        if len(idx) > draws * n:
            refs[name] = (ds, np.sort(rng.choice(idx, draws * n, replace=False)))
    return refs


def score_arms(work: Path, draws: int) -> list[dict]:
    """Equal-N FID/KID of both arms against their own data and against the target group's reals."""
    from nonesuch.data import Dataset

    datasets = {arm: Dataset(work / arm) for arm in ARMS}
    for arm in ARMS:
        if not (work / f"run-{arm}" / "config.json").is_file():
            sys.exit(f"{work / f'run-{arm}'}: no training run; run without --score-only first")
    n = min(len(ds) for ds in datasets.values())
    refs = reference_indices(datasets, n, draws)
    t0 = time.perf_counter()
    reference = {name: real_features(ds, idx) for name, (ds, idx) in refs.items()}
    fakes = {arm: generated_features(work / f"run-{arm}", draws * n) for arm in ARMS}
    print(f"Inception features of {sum(len(i) for _, i in refs.values())} real and {draws * n * len(ARMS)} "
          f"generated images: {time.perf_counter() - t0:.0f} s")
    rows = []
    for arm in ARMS:
        ds = datasets[arm]
        share = sum(1 for label in ds.labels() if label == TARGET_GROUP) / len(ds)
        for ref in ("own:" + arm, TARGET_GROUP):
            rows.append({"arm": arm, "train images": len(ds), "target share": round(share, 2),
                         "reference": "own data" if ref.startswith("own:") else f"{TARGET_GROUP} reals",
                         "n": n, "draws": draws, **draw_scores(reference[ref], fakes[arm], n, draws, seed=1)})
    return rows


def print_scores(rows: list[dict]) -> None:
    n, draws = rows[0]["n"], rows[0]["draws"]
    print(f"\nequal N: {n} generated vs {n} real images per draw, {draws} draws, mean ± sd (32 px). "
          f"KID is unbiased in N; FID is biased upward at small N, so compare FIDs only within this table.")
    print(f"{'arm':<10} {'images':>7} {'target':>7}  {'reference':<22} {'FID':>13} {'KID x1e3':>14}")
    for r in rows:
        fid_text = f"{r['fid'][0]:.1f} ± {r['fid'][1]:.1f}"
        kid_text = f"{r['kid'][0] * 1e3:.2f} ± {r['kid'][1] * 1e3:.2f}"
        print(f"{r['arm']:<10} {r['train images']:>7} {r['target share']:>7.2f}  {r['reference']:<22} "
              f"{fid_text:>13} {kid_text:>14}")


def train_arms(work: Path, kimg: float, labels: int) -> dict[str, float]:
    """Ingest, curate and train both arms; returns each arm's training seconds."""
    nonesuch("datasets", "openmoji", "--out", str(work / "openmoji"), "--size", "128")
    nonesuch("ingest", str(work / "openmoji"), "--out", str(work / "all32"), "--resolution", "32")
    nonesuch("curate", "embed", str(work / "all32"))
    nonesuch("curate", "label", str(work / "all32"), "--target", "smileys", "--oracle", TARGET_GROUP,
             "--budget", str(labels), "--no-browser")
    if not (work / "curated32" / "dataset.json").exists():
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
    grids = [sample_grid(work / f"run-{arm}", f"{arm}: KID x1e3 {own[arm]['kid'][0] * 1e3:.2f} own, "
                                             f"{target[arm]['kid'][0] * 1e3:.2f} vs {TARGET_GROUP}")
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
    parser.add_argument("--draws", type=int, default=5, help="random draws of N real and N generated images")
    parser.add_argument("--labels", type=int, default=100, help="oracle labels for the curated cut")
    parser.add_argument("--grid", type=Path, default=None,
                        help="side-by-side grids (default: docs/lesson-curation.png after training; "
                             "with --score-only only if given)")
    parser.add_argument("--score-only", action="store_true", help="Rescore the run folders in --out; train nothing.")
    args = parser.parse_args()
    work = args.out
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not args.score_only:
        for arm, seconds in train_arms(work, args.kimg, args.labels).items():
            print(f"trained {arm} in {seconds:.0f} s")
    rows = score_arms(work, args.draws)
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
