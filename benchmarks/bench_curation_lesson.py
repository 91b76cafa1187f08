"""The lesson behind nonesuch, measured: the same GAN, the same budget, on a mixed set and on a
homogeneous subset cut with 100 labels.

    all emoji (1,914 images, 9 groups)   vs   smileys cut by `curate` from 100 oracle labels

Both arms train the `cpu` preset for the same number of images with the same seed; each is scored
with FID and KID against its own training data (that is the question: how well did the GAN learn
what it was given?), and their grids are written side by side.

    .venv/bin/python benchmarks/bench_curation_lesson.py [--kimg 6] [--images 500] [--out out/lesson]

Every step is a `nonesuch` command, printed before it runs, so this is also a recipe.
"""

from __future__ import annotations

import argparse
import json
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
    env = {**os.environ, "NONESUCH_NO_REEXEC": "1"}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("out/lesson"))
    parser.add_argument("--kimg", type=float, default=6.0, help="thousands of images per phase (7 phases to 32 px)")
    parser.add_argument("--images", type=int, default=500, help="generated images for FID/KID")
    parser.add_argument("--labels", type=int, default=100, help="oracle labels for the curated cut")
    parser.add_argument("--grid", type=Path, default=Path("docs/lesson-curation.png"))
    args = parser.parse_args()
    work = args.out
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    nonesuch("datasets", "openmoji", "--out", str(work / "openmoji"), "--size", "128")
    nonesuch("ingest", str(work / "openmoji"), "--out", str(work / "all32"), "--resolution", "32")
    nonesuch("curate", "embed", str(work / "all32"))
    nonesuch("curate", "label", str(work / "all32"), "--target", "smileys", "--oracle", "smileys-emotion",
             "--budget", str(args.labels), "--no-browser")
    if not (work / "curated32" / "dataset.json").exists():
        nonesuch("curate", "apply", str(work / "all32"), "--target", "smileys", "--out", str(work / "curated32"))

    rows = []
    for arm in ("all32", "curated32"):
        run = work / f"run-{arm}"
        t0 = time.perf_counter()
        nonesuch("train", str(work / arm), "--out", str(run), "--preset", "cpu", "--kimg", str(args.kimg),
                 "--snapshot-kimg", str(args.kimg * 7), "--seed", "0")
        train_s = time.perf_counter() - t0
        scores = json.loads(nonesuch("metrics", str(run), "--images", str(args.images)))
        from nonesuch.data import Dataset

        ds = Dataset(work / arm)
        labels = ds.labels()
        smileys = sum(1 for label in labels if label == "smileys-emotion")
        rows.append({"arm": arm, "images": len(ds), "smileys share": f"{smileys / len(ds):.2f}",
                     "train s": round(train_s), "FID": round(scores["fid"], 1), "KID x1e3": round(scores["kid"] * 1e3, 2)})

    print(f"\nsame preset (cpu), same budget ({args.kimg:g} kimg x 7 phases), seed 0; "
          f"FID/KID on {args.images} generated images vs the arm's own data (32 px)")
    print(f"{'arm':<10} {'images':>7} {'smileys':>8} {'train s':>8} {'FID':>7} {'KID x1e3':>9}")
    for r in rows:
        print(f"{r['arm']:<10} {r['images']:>7} {r['smileys share']:>8} {r['train s']:>8} {r['FID']:>7} {r['KID x1e3']:>9}")

    grids = [sample_grid(work / f"run-{r['arm']}", f"{r['arm']}: FID {r['FID']}, KID x1e3 {r['KID x1e3']}") for r in rows]
    side = Image.new("RGB", (sum(g.width for g in grids) + 16, max(g.height for g in grids)), "white")
    x = 0
    for g in grids:
        side.paste(g, (x, 0))
        x += g.width + 16
    args.grid.parent.mkdir(parents=True, exist_ok=True)
    side.save(args.grid)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"grids: {args.grid}; total {time.perf_counter() - started:.0f} s; peak RSS of a child {peak:.0f} MiB; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
