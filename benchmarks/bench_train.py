"""Training throughput: img/s and peak RSS per resolution, stable and fade (alpha 0.5) phases.

One training step = one D step (WGAN-GP + drift, or NS + lazy R1) + one G step + the EMA update,
at batch 16, on real rendered emoji. Each (resolution, phase) runs in a fresh child process, so
its peak RSS is its own. Anchor (research/gan-peers.md, same machine class, 2 threads, batch 16,
128 channels, latent 512, WGAN-GP): pytorch_GAN_zoo PGAN 127 / 71 / 25 / 7.6 / 1.4 img/s at
4 / 8 / 16 / 32 / 64 px.

    python benchmarks/bench_train.py --preset anchor128 --resolutions 4 8 16 32 64
    python benchmarks/bench_train.py --preset cpu --resolutions 32 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# pytorch_GAN_zoo PGAN, 128 channels, quiet machine, 2 threads; compare like with like only for
# --preset anchor128 --amp off --gp-interval 1 (the other presets are smaller networks).
ANCHOR = {4: 127, 8: 71, 16: 25, 32: 7.6, 64: 1.4}
FAST_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736"}


def make_dataset(folder: Path, resolution: int) -> Path:
    """~200 real emoji (alpha over white) as a dataset; rendered once per benchmark run."""
    import numpy as np
    from PIL import Image

    from nonesuch.data.dataset import DatasetWriter, ImageRecord
    from nonesuch.data.openmoji import render_openmoji

    render_openmoji(folder / "png", resolution, limit_per_group=25)
    writer = DatasetWriter(folder / "ds", resolution)
    pngs = sorted((folder / "png").glob("*/*.png"))
    images = []
    for png in pngs:
        rgba = Image.open(png).convert("RGBA")
        images.append(np.asarray(Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")))
    writer.append(np.stack(images), [ImageRecord(sha256=str(i), source=str(p)) for i, p in enumerate(pngs)])
    writer.close()
    return folder / "ds"


def measure(dataset: str, preset: str, resolution: int, phase: str, loss: str, seconds: float, batch: int,
            amp: str, gp_interval: int) -> dict:
    """In the child: build a run, jump to the wanted stage, time steps."""
    import torch

    from nonesuch.gan import distributed
    from nonesuch.gan.config import resolve_config
    from nonesuch.gan.train import _build, training_step, validate

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count()))
    with tempfile.TemporaryDirectory() as out:
        config, ds = validate(resolve_config(dataset, out, dict(preset=preset, resolution=resolution, kimg=10.0,
                                                                batch=batch, loss=loss, amp=amp,
                                                                gp_interval=gp_interval)))
        run = _build(config, distributed.Placement(distributed.choose_device("auto")), ds)
        stages = config.schedule.stages()
        start = sum(length for *_, length in stages[:-1])
        if phase == "fade":
            start -= config.schedule.fade_images // 2  # halfway through the last fade: alpha 0.5
        run.images_seen = start
        for _ in range(3):  # warm-up: allocator, oneDNN kernels
            training_step(run)
        steps, began = 0, time.perf_counter()
        while steps < 5 or time.perf_counter() - began < seconds:
            stage = training_step(run)
            steps += 1
        elapsed = time.perf_counter() - began
    return {"resolution": resolution, "phase": phase, "alpha": round(stage.alpha, 3), "steps": steps,
            "img_per_s": steps * batch / elapsed, "s_per_step": elapsed / steps,
            "G_params": sum(p.numel() for p in run.generator.parameters()),
            "D_params": sum(p.numel() for p in run.discriminator.parameters()),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def machine() -> str:
    import torch
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    threads = os.environ.get("OMP_NUM_THREADS") or os.cpu_count()
    return (f"{cpu}, {os.cpu_count()} cores, {threads} threads, torch {torch.__version__}, "
            f"load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="anchor128")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--phases", nargs="+", default=["stable", "fade"])
    parser.add_argument("--loss", default="wgan-gp")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--amp", default="auto", help="auto (bf16 where the CPU has bf16 kernels) or off")
    parser.add_argument("--gp-interval", type=int, default=4, help="1 = the paper's GP every step")
    parser.add_argument("--seconds", type=float, default=4.0, help="time per measurement")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)  # dataset, resolution:phase
    args = parser.parse_args()
    if args.child:
        resolution, phase = args.child[1].split(":")
        print(json.dumps(measure(args.child[0], args.preset, int(resolution), phase, args.loss, args.seconds,
                                 args.batch, args.amp, args.gp_interval)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        dataset = make_dataset(Path(tmp), max(args.resolutions))
        print(f"bench_train: preset {args.preset}, loss {args.loss}, gp every {args.gp_interval} steps, "
              f"amp {args.amp}, batch {args.batch}; {machine()}")
        print(f"{'res':>4} {'phase':>6} {'img/s':>8} {'s/step':>8} {'vs PGAN128':>10} {'peak RSS':>9} "
              f"{'G params':>9} {'D params':>9}")
        for resolution in args.resolutions:
            for phase in args.phases:
                if phase == "fade" and resolution == 4:
                    continue
                child = subprocess.run(
                    [sys.executable, __file__, "--preset", args.preset, "--loss", args.loss, "--batch",
                     str(args.batch), "--seconds", str(args.seconds), "--amp", args.amp, "--gp-interval",
                     str(args.gp_interval), "--child", str(dataset), f"{resolution}:{phase}"],
                    env={**os.environ, **FAST_MALLOC}, capture_output=True, text=True)
                if child.returncode:
                    print(child.stderr[-2000:])
                    continue
                r = json.loads(child.stdout.strip().splitlines()[-1])
                ratio = f"{r['img_per_s'] / ANCHOR[resolution]:.2f}x" if resolution in ANCHOR else "-"
                print(f"{resolution:>4} {phase:>6} {r['img_per_s']:>8.1f} {r['s_per_step']:>8.3f} {ratio:>10} "
                      f"{r['peak_rss_mib']:>7.0f}Mi {r['G_params'] / 1e6:>8.2f}M {r['D_params'] / 1e6:>8.2f}M",
                      flush=True)
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS of any child: {children:.0f} MiB; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
