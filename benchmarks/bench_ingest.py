"""Ingest speed: `nonesuch ingest` against what most dataset tools do, on photo-sized JPEGs.

Builds (in a temporary folder, deleted afterwards) N JPEGs of 1024x768, q90: emoji pasted on
noisy gradient backgrounds, so they compress like photos rather than like flat art. Then times,
alternating so machine load hits both alike:

  naive      one process: full decode, centre crop, LANCZOS resize, PNG written per image
  ingest/1   nonesuch ingest with one worker (DCT-scaled decode, one resize, batched raw writes)
  ingest     nonesuch ingest with all cores (the default)

and prints images per second, the ratio to the naive baseline, and peak RSS.

    .venv/bin/python benchmarks/bench_ingest.py [--images 500] [--resolution 128] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, features

from nonesuch.data import IngestConfig, ingest
from nonesuch.data.openmoji import render_openmoji
from nonesuch.progress import progress_bar


def build_jpegs(folder: Path, count: int, seed: int = 0) -> int:
    """count JPEGs of 1024x768 (every fourth one portrait, 768x1024). Returns total bytes."""
    emoji_dir = folder.parent / "emoji"
    render_openmoji(emoji_dir, 320, limit_per_group=8)
    emoji = [Image.open(p).convert("RGBA") for p in sorted(emoji_dir.glob("*/*.png"))]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    total = 0
    with progress_bar("building JPEGs", count) as advance:
        for i in range(count):
            w, h = (768, 1024) if i % 4 == 3 else (1024, 768)
            # A photo-like background: gradient lighting, blotchy texture at 1/16 scale, fine grain.
            ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :, None] * rng.uniform(40, 160, 3)
            base = rng.uniform(20, 100, 3) + ramp + np.linspace(0, 50, h, dtype=np.float32)[:, None, None]
            blotches = rng.normal(0, 30, (h // 16, w // 16, 3)).astype(np.float32)
            texture = np.stack([np.asarray(Image.fromarray(blotches[..., c]).resize((w, h), Image.BICUBIC))
                                for c in range(3)], axis=-1)
            grain = rng.normal(0, 4, (h, w, 1)).astype(np.float32)  # sensor-like noise
            canvas = Image.fromarray(np.clip(base + texture + grain, 0, 255).astype(np.uint8))
            for _ in range(3):
                sticker = emoji[rng.integers(len(emoji))]
                side = int(rng.integers(160, 420))
                sticker = sticker.resize((side, side), Image.BILINEAR)
                canvas.paste(sticker, (int(rng.integers(0, w - side)), int(rng.integers(0, h - side))), sticker)
            path = folder / f"{i:05d}.jpg"
            canvas.save(path, quality=90)
            total += path.stat().st_size
            advance()
    return total


def naive_baseline(files: list[Path], out: Path, resolution: int) -> None:
    """What most dataset tools do: decode everything, LANCZOS, one PNG per image."""
    out.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(files):
        image = Image.open(path).convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.LANCZOS)
        image.save(out / f"{i:05d}.png")


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ingest's workers), user + system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds). CPU time barely moves when other jobs share the machine, so
    it shows what a method costs even when wall-clock rates are squeezed by load."""
    started, started_cpu = time.perf_counter(), cpu_seconds()
    fn()
    return time.perf_counter() - started, cpu_seconds() - started_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        jpegs = work / "jpegs"
        total_bytes = build_jpegs(jpegs, args.images)
        files = sorted(jpegs.glob("*.jpg"))
        cores = os.cpu_count()
        runs: dict[str, list[tuple[float, float]]] = {"naive": [], "ingest/1": [], f"ingest/{cores}": []}
        for round_ in range(args.rounds):
            for name in runs:
                target = work / f"out-{round_}-{name.replace('/', '-')}"
                if name == "naive":
                    runs[name].append(timed(lambda: naive_baseline(files, target, args.resolution)))
                else:
                    workers = int(name.split("/")[1])
                    config = IngestConfig(resolution=args.resolution, workers=workers)
                    runs[name].append(timed(lambda: ingest([jpegs], target, config, show_progress=False)))
                shutil.rmtree(target)

        self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"machine: {platform.machine()} {platform.processor() or ''}, {cores} cores "
              f"(os.cpu_count), load avg {os.getloadavg()[0]:.1f}; Python {platform.python_version()}, "
              f"Pillow {PIL.__version__}, libjpeg-turbo {features.version('libjpeg_turbo')}")
        print(f"input: {len(files)} JPEGs, 1024x768 (1 in 4 portrait), q90, "
              f"{total_bytes / 2**20:.1f} MiB -> {args.resolution} px; best of {args.rounds} rounds, alternating")
        n = len(files)
        baseline = n / min(wall for wall, _ in runs["naive"])
        baseline_cpu = n / min(cpu for _, cpu in runs["naive"])
        print(f"{'method':<12}{'img/s best':>12}{'img/s median':>14}{'x naive':>9}"
              f"{'img per CPU-s':>15}{'x naive':>9}")
        for name, results in runs.items():
            walls, cpus = [wall for wall, _ in results], [cpu for _, cpu in results]
            best, median, per_cpu = n / min(walls), n / statistics.median(walls), n / min(cpus)
            print(f"{name:<12}{best:>12.1f}{median:>14.1f}{best / baseline:>9.2f}"
                  f"{per_cpu:>15.1f}{per_cpu / baseline_cpu:>9.2f}")
        print(f"peak RSS: benchmark process {self_rss:.0f} MiB, largest child (ingest worker) {child_rss:.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
