"""Benchmark: what one explain iteration costs (8 codes, box code), split into the generator's
forward+backward and the resize + EfficientNet-Lite0 forward+backward, in CPU seconds.

    python benchmarks/bench_explain_iteration.py                                  # 64 px, the table's configs
    python benchmarks/bench_explain_iteration.py --generator smileys32 --configs bf16/NCHW/128

The 64 px generator is the smileys64 run's architecture (training/smileys64-run/config.json)
with untrained weights: an iteration's cost depends on the shapes only. CPU seconds, not wall:
on a machine other jobs keep busy, wall time says how busy it is. Use --threads 1 there; two
threads spin-wait on each other and burn ~16x the CPU (measured; README "Explain").
Each config is dtype/layout/classifier-side: fp32|bf16 / NCHW|CL (channels_last Lite0) / px.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--generator", default="64", help="64 (smileys64's architecture) or a name/run to load")
    p.add_argument("--configs", default="fp32/NCHW/128,bf16/NCHW/128,bf16/CL/128,bf16/NCHW/96,bf16/NCHW/112")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from nonesuch.explain.targets import _lite0_network, imagenet_index

    first, rest = generator_halves(args.generator)
    lite = _lite0_network()
    lemon = imagenet_index("lemon")
    h0 = first(torch.randn(8, 128, generator=torch.Generator().manual_seed(0))).detach()

    def clock(fn) -> float:
        fn()                                                   # oneDNN builds its kernels once per shape
        start = time.process_time()
        for _ in range(args.reps):
            fn()
        return (time.process_time() - start) / args.reps

    for config in args.configs.split(","):
        dtype, layout, size = config.split("/")
        bf16, channels_last, size = dtype == "bf16", layout == "CL", int(size)
        lite.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)

        def generator_only():
            h = h0.clone().requires_grad_(True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                images = rest(h).float()
            torch.autograd.grad(images.sum(), h)

        def iteration():
            h = h0.clone().requires_grad_(True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                images = rest(h).float().clamp(-1, 1)
                x = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                score = lite._fc(lite.extract_features(x).mean((2, 3)))[:, lemon]
            torch.autograd.grad(score.float().sum(), h)

        total, g = clock(iteration), clock(generator_only)
        print(f"{config}: {total:.3f} CPU-s per iteration (G forward+backward {g:.3f}, "
              f"resize + Lite0 {total - g:.3f}); x200 = {200 * total:.0f} CPU-s", flush=True)


def generator_halves(source: str):
    if source == "64":
        from nonesuch.gan.networks import ProgressiveGenerator
        from nonesuch.gan.presets import Architecture

        net = ProgressiveGenerator(Architecture("cpu", 128, (128, 128, 128, 64, 32)), 64, 0, ())
        net = net.eval().requires_grad_(False)
        return (lambda z: net.first_features(z, None, None)), net.from_features
    from nonesuch.gan.generator import load_generator

    loaded = load_generator(source)
    return (lambda z: loaded.features(z)), loaded.synthesize_from_features


if __name__ == "__main__":
    main()
