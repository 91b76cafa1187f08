"""Benchmark: what generate's screen (generate/screen.py) does to the scores and the speed.

    .venv/bin/python benchmarks/bench_screen.py --dataset out/smileys64 --generated 2000

Seeds 0..N-1 of the shipped generator drawn as `nonesuch generate` draws them, with the screen
and without (`--no-screen`), each scored with the `nonesuch metrics` protocol (KID x10^3 over
subsets, FID with both N's, precision/recall k=3, memorisation) against every real image, at
--resolution (32: the outputs box-filtered down as the dataset's ladder was made, the figure the
README compares generators at). Also: how many seeds were drawn again and how often, and the
generator+screen time per image on --threads torch threads (no watermark, no file: the screen's
own cost). Inception is the slow part on a CPU (~4 images/s a core).
"""

from __future__ import annotations

import argparse
import collections
import json
import resource
import time

import numpy as np
import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--generator", default="smileys64")
    p.add_argument("--dataset", required=True, help="the generator's training dataset")
    p.add_argument("--generated", type=int, default=2000)
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from nonesuch.data import Dataset
    from nonesuch.data.dataset import downsample_pyramid
    from nonesuch.generate.pipeline import Producer
    from nonesuch.metrics.evaluate import real_features, score_features, uint8_to_unit
    from nonesuch.metrics.inception import inception_features

    dataset = Dataset(args.dataset)
    reals = real_features(dataset, args.resolution, count=len(dataset))
    seeds = list(range(args.generated))
    results = {}
    for screen in (True, False):
        with Producer(args.generator, sign=False, register=False, screen=screen, threads=args.threads) as producer:
            started, pixels, attempts = time.perf_counter(), [], []
            for start in range(0, len(seeds), 64):
                batch, tried = producer._draw(seeds[start:start + 64])
                pixels.append(batch)
                attempts += tried
            seconds = time.perf_counter() - started
        pixels = np.concatenate(pixels)
        if pixels.shape[1] > args.resolution:
            pixels = downsample_pyramid(pixels)[args.resolution]
        fakes = np.concatenate([inception_features(uint8_to_unit(pixels[i:i + 64])).numpy()
                                for i in range(0, len(pixels), 64)])
        scores = score_features(reals, fakes)
        name = "screen" if screen else "no screen"
        results[name] = {**{k: scores[k] for k in ("kid_x1e3", "kid_std_x1e3", "fid", "precision", "recall",
                                                   "memorised", "n_generated", "n_real")},
                         "ms_per_image": round(1000 * seconds / len(seeds), 2),
                         "attempts": dict(sorted(collections.Counter(a or 0 for a in attempts).items()))}
        print(name, json.dumps(results[name]), flush=True)
    print(f"\n{args.generator}, {args.generated} seeds vs all {len(reals)} reals at {args.resolution} px, "
          f"{args.threads} threads, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print("| draw | KID x10^3 | FID | precision | recall | memorised | ms/image (G + screen) | seeds redrawn |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        redrawn = sum(v for k, v in r["attempts"].items() if k > 0)
        print(f"| {name} | {r['kid_x1e3']:.1f} ± {r['kid_std_x1e3']:.1f} | {r['fid']:.1f} | {r['precision']:.2f} | "
              f"{r['recall']:.2f} | {100 * r['memorised']:.1f} % | {r['ms_per_image']:.1f} | {redrawn} of {r['n_generated']} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
