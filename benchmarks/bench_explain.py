"""Benchmark: does `nonesuch explain` meet issue 12's goals? One table, one JSON, one grid.

    .venv/bin/python benchmarks/bench_explain.py                          # the full run (lead)
    .venv/bin/python benchmarks/bench_explain.py --targets lemon,orange,balloon,mask --seeds 4 \
        --iterations 60 --pool 64 --speed-iterations 20                   # a small run

Default: the shipped smileys32 generator, reals = the 171 smileys (/work/out/smileys64 at 32 px),
10 ImageNet classes that fit round yellow faces x 8 seeds, 200 iterations. `explain_dataset.py OUT`
builds the reals with three curation targets (hearts, cat-faces, sad-faces) for `curate:` specs.
--ceiling / --margin run explain's ceiling (README "Explain"); --seeds 64 --inception-pool 512 is
the protocol with N = 64 outputs per target for KID (printed with its spread over subsets).
Measured per run (target x seed), against issue 12's goals:
1. activation: the output beats >= 99 % of real images on the target (goal: >= 90 % of runs),
   and beats the best of N random samples at equal compute (N = 3 x iterations: a backward
   pass costs about two forward passes), drawn from one pool shared by all targets;
2. not adversarial: an independent scorer, a ridge probe on InceptionV3 (TF 2015, the FID network:
   another architecture, other training) fitted to predict the target's score from real images
   and random samples, never from outputs, scores the output above its own starting sample
   (goal: >= 70 % of runs);
3. realism: the run's discriminator (training checkpoints only; an exported run like smileys32
   has none: n/a) scores the median output >= its 10th percentile on reals, and
   KID(outputs, reals) <= 1.5 x KID(random samples, reals) (Inception features, equal counts);
4. not a copy: each output's nearest real image (Inception features) is at least the 5th
   percentile of real-to-real nearest-neighbour distances away;
5. diversity: mean pairwise Inception distance across seeds >= 0.8 x that of random samples;
6. speed: 200 iterations for 8 codes, wall and CPU seconds, on --threads torch threads;
7. two objectives at W = 0.5 (the first two targets, or each of --pairs), combined by --combine
   (default: explain's): both reach their 90th percentile of reals in >= 50 % of seeds.
Print what was measured on what: on a shared, loaded machine CPU seconds say more than wall.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

DEFAULT_TARGETS = ("lemon,orange,tennis ball,balloon,jack-o'-lantern,sunglasses,ping-pong ball,"
                   "bubble,mask,golf ball")
SHIPPED = Path(__file__).resolve().parents[1] / "src/nonesuch/pretrained/smileys32"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", default=str(SHIPPED))
    p.add_argument("--reals", default="/work/out/smileys64", help="dataset at (at least) the run's size")
    p.add_argument("--targets", default=DEFAULT_TARGETS,
                   help="comma list: ImageNet names, or full specs (curate:DATASET:TARGET, onnx:...)")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--step", type=float, default=None, help="default: the code's (code_space.DEFAULT_STEPS)")
    p.add_argument("--code", default="box")
    p.add_argument("--realism", type=float, default=None, help="weight of D in the objective; default: ExplainConfig's")
    p.add_argument("--ceiling", type=float, default=None,
                   help="percentile of reals past which a target earns nothing (explain --ceiling); default: none")
    p.add_argument("--margin", type=float, default=0.0,
                   help="raise each ceiling by this many SDs over random samples (the trade-off, README)")
    p.add_argument("--classifier-size", type=int, default=None, help="default: ExplainConfig's")
    p.add_argument("--precision", default=None, help="of the gradient passes; default: ExplainConfig's")
    p.add_argument("--pool", type=int, default=None,
                   help="random samples (default 3 x iterations x seeds: best of 3 x iterations per seed)")
    p.add_argument("--inception-pool", type=int, default=64, help="random samples for KID/probe/diversity")
    p.add_argument("--speed-iterations", type=int, default=200, help="0: skip the speed check")
    p.add_argument("--no-pair", action="store_true", help="skip the two-objective (W = 0.5) check")
    p.add_argument("--pairs", default=None, help="two-objective pairs 'A+B,C+D' (names or specs); default: the "
                   "first two targets")
    p.add_argument("--combine", default=None, help="softmin or sum; default: ExplainConfig's")
    p.add_argument("--pairs-only", action="store_true", help="measure only the two-objective pairs (goal 7)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch threads; on a machine other jobs load, 1 (two threads spin-wait on each other)")
    p.add_argument("--out", default="/tmp/bench_explain")
    return p.parse_args()


def spec_of(name: str) -> str:
    return name if ":" in name else f"imagenet:{name}"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    from nonesuch.data import Dataset
    from nonesuch.explain.code_space import DEFAULT_STEPS
    from nonesuch.explain.explain import explain, percentile_among
    from nonesuch.explain.folder import ExplainConfig
    from nonesuch.explain.objective import Standardisation, calibrate, score_images
    from nonesuch.explain.optimise import AscentConfig
    from nonesuch.explain.targets import parse_target
    from nonesuch.gan.generator import load_generator
    from nonesuch.gan.sampling import latents_for_seeds, to_uint8

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    step = args.step if args.step is not None else DEFAULT_STEPS[args.code]
    args.realism = ExplainConfig.realism if args.realism is None else args.realism
    args.classifier_size = args.classifier_size or ExplainConfig.classifier_size
    args.precision = args.precision or ExplainConfig.precision
    args.combine = args.combine or ExplainConfig.combine
    loaded = load_generator(args.run)
    specs = [spec_of(t.strip()) for t in args.targets.split(",") if t.strip()]
    targets = [parse_target(s, args.classifier_size) for s in specs]
    dataset = Dataset(args.reals)
    reals = np.array(dataset.images(loaded.resolution))                        # [M, R, R, 3]
    print(f"# bench_explain on {machine(args.threads)}", flush=True)
    print(f"# run {args.run} ({loaded.resolution} px), reals {args.reals} ({len(reals)}), "
          f"{len(specs)} targets x {args.seeds} seeds, {args.iterations} iterations, code {args.code}, "
          f"step {step}, realism {args.realism}, classifier {args.classifier_size} px, precision {args.precision}", flush=True)
    clock = Clock()
    ascent = AscentConfig(iterations=args.iterations, step_start=step, precision=args.precision)
    seeds = list(range(args.seeds))
    if args.pairs_only:
        return pairs_only(args, loaded, specs, seeds, ascent, reals, out)
    real_scores = score_images(targets, reals)                                 # [M, T]
    pool_size = args.pool or 3 * args.iterations * args.seeds
    with torch.no_grad():
        pool_images = sample(loaded, range(10_000, 10_000 + pool_size))
    pool_scores = score_images(targets, pool_images)                           # [P, T]
    # One calibration pass for every target (they share Lite0), not one per explain call.
    calibration = calibrate(targets, loaded.synthesize, loaded.latent_dim)
    clock.lap("scores of reals, random pool, calibration")

    runs, outputs, starts = [], {}, {}
    equal = max(1, min(3 * args.iterations, pool_size // args.seeds))
    for t, (spec, target) in enumerate(zip(specs, targets)):
        result = explain(loaded, [target], seeds, code=args.code, ascent=ascent,
                         standardisation=Standardisation([calibration.mean[t]], [calibration.std[t]]),
                         realism=args.realism,
                         ceilings=ceilings_of(args.ceiling, real_scores[:, t:t + 1], [args.margin * calibration.std[t]]))
        outputs[spec], starts[spec] = result.pixels, result.before_pixels
        after = result.scores_after[:, 0]
        percentile = percentile_among(real_scores[:, t:t + 1], result.scores_after)[:, 0]
        for i, seed in enumerate(seeds):
            best_random = pool_scores[i * equal:(i + 1) * equal, t].max()
            runs.append({"target": spec, "seed": seed, "before": float(result.scores_before[i, 0]),
                         "after": float(after[i]), "real_percentile": float(percentile[i]),
                         "best_of_random": float(best_random)})
        clock.lap(f"explain {spec}")
        print(f"  {spec}: real percentile before {np.round(percentile_among(real_scores[:, t:t + 1], result.scores_before)[:, 0], 1).tolist()}"
              f" after {np.round(percentile, 1).tolist()}", flush=True)
        (out / "runs.partial.json").write_text(json.dumps(runs, indent=1) + "\n")   # survives a kill
        write_grid(out / "grid.png", specs[:t + 1], starts, outputs)

    n_pool = max(args.inception_pool, len(specs) * len(seeds))    # >= every output: the pooled KID
    independent = inception_checks(specs, targets, outputs, starts, dataset, loaded.resolution, pool_images[:n_pool],
                                   real_scores, pool_scores[:n_pool], runs)
    clock.lap("inception checks")
    realism = discriminator_check(loaded, outputs, reals)
    pair = [] if args.no_pair else all_pairs(args, loaded, specs, seeds, ascent, reals)
    clock.lap("two objectives")
    speed = speed_check(loaded, targets[0], args.speed_iterations, args.code, step, args.precision, args.realism) \
        if args.speed_iterations else None
    clock.lap("speed")
    write_grid(out / "grid.png", specs, starts, outputs)
    summary = summarise(runs, independent, realism, pair, speed, equal)
    print_table(summary)
    (out / "bench_explain.json").write_text(json.dumps(
        {"args": vars(args), "summary": summary, "runs": runs, "per_target": independent["per_target"],
         "discriminator": realism, "laps": clock.laps}, indent=2, default=float) + "\n")
    print(f"# grid: {out / 'grid.png'}; everything: {out / 'bench_explain.json'}")


def ceilings_of(percentile, real_scores: np.ndarray, margins: list[float]) -> list[float] | None:
    """[M, T] raw real scores -> each target's ceiling (explain's) raised by a margin, or None."""
    from nonesuch.explain.objective import real_ceilings

    if percentile is None:
        return None
    return [c + m for c, m in zip(real_ceilings(real_scores, percentile, [1] * real_scores.shape[1]), margins)]


def sample(loaded, seeds) -> torch.Tensor:
    from nonesuch.gan.sampling import latents_for_seeds

    z = latents_for_seeds(list(seeds), loaded.latent_dim)
    return torch.cat([loaded.synthesize(z[i:i + 32]) for i in range(0, len(z), 32)]).clamp(-1, 1)


def unit(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float() / 127.5 - 1


def inception_checks(specs, targets, outputs, starts, dataset, resolution, pool_images, real_scores,
                     pool_scores, runs) -> dict:
    """Independent scorer, KID, nearest-neighbour distance and diversity, all in Inception space.
    The reals' features come from the metrics cache (`nonesuch metrics` writes it), the seeds'
    plain samples are the same for every target and go through Inception once."""
    from sklearn.linear_model import RidgeCV

    from nonesuch.metrics.distances import kid, kid_subsets
    from nonesuch.metrics.evaluate import real_features
    from nonesuch.metrics.inception import inception_features

    f_real = real_features(dataset, resolution, count=len(dataset))             # [M, 2048]
    f_pool = inception_features(pool_images).numpy()                            # [P, 2048]
    real_nn = nearest(f_real, f_real, exclude_self=True)
    nn_floor = float(np.percentile(real_nn, 5))
    pool_spread = mean_pairwise(f_pool)

    def kid_spread(fake) -> list[float]:      # [mean, std over subsets] x 1e3, and N: the protocol
        values = kid_subsets(f_real, fake, subsets=50) * 1e3
        return [float(values.mean()), float(values.std()), len(fake)]
    random_kid = kid_spread(f_pool)           # each KID once: the ratios are ratios of these means
    kid_random = random_kid[0] / 1e3
    rows = {}
    train_x = np.concatenate([f_real, f_pool])
    for t, spec in enumerate(specs):
        f_out = inception_features(unit(outputs[spec])).numpy()
        if spec == specs[0] or not np.array_equal(starts[spec], starts[specs[0]]):
            f_start = inception_features(unit(starts[spec])).numpy()
        probe = RidgeCV(alphas=np.logspace(-1, 4, 12)).fit(train_x, np.concatenate([real_scores[:, t], pool_scores[:, t]]))
        prefers = probe.predict(f_out) > probe.predict(f_start)
        # Context for the KID ratio: a target's outputs are one kind of image, never the whole
        # data's mix, so a random sample picked for the target (the pool's top len(outputs)) is
        # far from the reals in KID too; this says how far, with no optimisation at all.
        picked = np.argsort(-pool_scores[:, t])[:len(f_out)]
        out_kid, top_kid = kid_spread(f_out), kid_spread(f_pool[picked])
        rows[spec] = {"independent_prefers": prefers.tolist(),
                      "kid_ratio": out_kid[0] / max(random_kid[0], 1e-9),
                      "kid_ratio_top_random": top_kid[0] / max(random_kid[0], 1e-9),
                      "nn_ok": (nearest(f_out, f_real) >= nn_floor).tolist(),
                      "diversity_ratio": mean_pairwise(f_out) / pool_spread,
                      "kid_x1e3_mean_std_n": {"outputs": out_kid, "top_random": top_kid, "random": random_kid}}
    # Every target's outputs together against as many random samples: the explained set as a
    # whole, several concepts, so less of the ratio is the narrowing to one kind of image.
    f_all = np.concatenate([inception_features(unit(outputs[spec])).numpy() for spec in specs])
    kid_pooled = kid(f_real, f_all, subsets=50) / max(kid(f_real, f_pool[:len(f_all)], subsets=50), 1e-12)
    return {"per_target": rows, "kid_random": kid_random, "nn_floor": nn_floor, "kid_ratio_pooled": kid_pooled}


def nearest(a: np.ndarray, b: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    from nonesuch.metrics.manifold import pairwise_distances   # [A, B] without an [A, B, D] array

    d = pairwise_distances(a, b)
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def mean_pairwise(f: np.ndarray) -> float:
    from nonesuch.metrics.manifold import pairwise_distances

    d = pairwise_distances(f, f)
    np.fill_diagonal(d, 0.0)                 # rounding can leave a tiny self-distance
    return float(d.sum() / (len(f) * (len(f) - 1)))


def discriminator_check(loaded, outputs, reals) -> dict | None:
    """Median D(output) against D's 10th percentile on reals; None when the run has no D."""
    from nonesuch.explain.realism import load_discriminator

    d = load_discriminator(loaded)
    if d is None:
        return None
    with torch.no_grad():
        floor = float(np.percentile(score_d(d, unit(reals)), 10))
        return {spec: {"median": float(np.median(score_d(d, unit(px)))), "real_p10": floor}
                for spec, px in outputs.items()}


def score_d(d, images: torch.Tensor) -> np.ndarray:
    # Minibatch stddev makes D's score depend on its batch: score in batches of 8, as trained-ish.
    return torch.cat([d(images[i:i + 8]) for i in range(0, len(images), 8)]).numpy()


def all_pairs(args, loaded, specs, seeds, ascent, reals) -> list[dict]:
    from nonesuch.explain.targets import parse_target

    pairs = ([[spec_of(t) for t in pair.split("+")] for pair in args.pairs.split(",")] if args.pairs
             else [specs[:2]] if len(specs) >= 2 else [])
    return [two_objectives(loaded, pair_specs, [parse_target(s, args.classifier_size) for s in pair_specs],
                           seeds, ascent, args.code, reals, args.realism, args.combine, args.ceiling)
            for pair_specs in pairs]


def pairs_only(args, loaded, specs, seeds, ascent, reals, out: Path) -> None:
    started = time.process_time()
    pairs = all_pairs(args, loaded, specs, seeds, ascent, reals)
    for p in pairs:
        print(f"W=0.5 {p['targets'][0]} + {p['targets'][1]} ({p['combine']}): both >= p90 in "
              f"{100 * p['both_p90_share']:.0f} % of seeds (a {100 * p['a_p90_share']:.0f} %, "
              f"b {100 * p['b_p90_share']:.0f} %); goal >= 50 %")
    met = sum(p["both_p90_share"] >= 0.5 for p in pairs)
    print(f"pairs meeting it: {met} of {len(pairs)}; {time.process_time() - started:.0f} CPU s")
    (out / "bench_explain_pairs.json").write_text(json.dumps({"args": vars(args), "pairs": pairs}, indent=2) + "\n")


def two_objectives(loaded, specs, targets, seeds, ascent, code, reals, realism, combine, ceiling) -> dict:
    from nonesuch.explain.explain import explain, percentile_among
    from nonesuch.explain.objective import real_ceilings, score_images

    real_scores = score_images(targets, reals)
    result = explain(loaded, targets, seeds, weights=[0.5, 0.5], code=code, ascent=ascent, realism=realism,
                     combine=combine, ceilings=None if ceiling is None else real_ceilings(real_scores, ceiling, [1, 1]))
    percentile = percentile_among(real_scores, result.scores_after)     # [N, 2]
    above = percentile >= 90.0
    print(f"  W=0.5 {' + '.join(specs)} ({combine}): real percentiles {np.round(percentile, 0).tolist()}", flush=True)
    return {"targets": specs, "combine": combine, "both_p90_share": float(above.all(axis=1).mean()),
            "a_p90_share": float(above[:, 0].mean()), "b_p90_share": float(above[:, 1].mean())}


def speed_check(loaded, target, iterations, code, step, precision, realism) -> dict:
    from nonesuch.explain.explain import explain
    from nonesuch.explain.optimise import AscentConfig

    wall, cpu = time.perf_counter(), time.process_time()
    explain(loaded, [target], range(8), code=code, ascent=AscentConfig(iterations=iterations, step_start=step, precision=precision),
            calibration_samples=16, realism=realism)
    return {"iterations": iterations, "codes": 8, "wall_s": time.perf_counter() - wall,
            "cpu_s": time.process_time() - cpu, "threads": torch.get_num_threads(),
            "loadavg_1min": os.getloadavg()[0]}


def summarise(runs, independent, realism, pair, speed, equal) -> dict:
    n = len(runs)
    per = independent["per_target"]
    prefers = [v for row in per.values() for v in row["independent_prefers"]]
    nn_ok = [v for row in per.values() for v in row["nn_ok"]]
    return {
        "runs": n,
        "activation_p99_share": sum(r["real_percentile"] >= 99.0 for r in runs) / n,
        "beats_best_of_random_share": sum(r["after"] > r["best_of_random"] for r in runs) / n,
        "best_of_random_n": equal,
        "independent_prefers_share": sum(prefers) / len(prefers),
        "kid_ratio_median": float(np.median([row["kid_ratio"] for row in per.values()])),
        "kid_ratio_max": float(max(row["kid_ratio"] for row in per.values())),
        "kid_ratio_top_random_median": float(np.median([row["kid_ratio_top_random"] for row in per.values()])),
        "kid_ratio_pooled": independent["kid_ratio_pooled"],
        "kid_x1e3": [row["kid_x1e3_mean_std_n"] for row in per.values()],
        "not_a_copy_share": sum(nn_ok) / len(nn_ok),
        "diversity_ratio_median": float(np.median([row["diversity_ratio"] for row in per.values()])),
        "discriminator": None if realism is None else {
            "median_output_above_real_p10_share":
                sum(v["median"] >= v["real_p10"] for v in realism.values()) / len(realism)},
        "two_objectives_w05": pair,
        "speed": speed,
    }


def kid_cell(k: dict) -> str:
    return " | ".join(f"{m:.1f}±{sd:.1f} ({n})" for m, sd, n in (k["outputs"], k["top_random"], k["random"]))


def print_table(s: dict) -> None:
    def pct(x):
        return "n/a" if x is None else f"{100 * x:.0f} %"
    d = s["discriminator"]
    rows = [
        ("activation: >= p99 of reals", pct(s["activation_p99_share"]), ">= 90 % of runs"),
        (f"beats best of {s['best_of_random_n']} random (equal compute)", pct(s["beats_best_of_random_share"]), "all"),
        ("independent scorer (Inception probe) prefers output", pct(s["independent_prefers_share"]), ">= 70 %"),
        ("discriminator: median output >= D's p10 on reals",
         "n/a (run has no D)" if d is None else pct(d["median_output_above_real_p10_share"]), "all targets"),
        ("KID(outputs) / KID(random), median | max",
         f"{s['kid_ratio_median']:.2f} | {s['kid_ratio_max']:.2f}", "<= 1.5"),
        ("  for scale: the random samples the target ranks highest, median",
         f"{s['kid_ratio_top_random_median']:.2f}", "(no goal)"),
        ("KID(every target's outputs) / KID(as many random samples)", f"{s['kid_ratio_pooled']:.2f}", "<= 1.5"),
        ("  KID x 1e3 per target, mean ± SD over 50 subsets (N): outputs | top random | random",
         "; ".join(kid_cell(k) for k in s["kid_x1e3"]), ""),
        ("not a copy: NN distance >= p5 real-to-real", pct(s["not_a_copy_share"]), "all"),
        ("diversity across seeds / random, median", f"{s['diversity_ratio_median']:.2f}", ">= 0.8"),
    ]
    for p in s["two_objectives_w05"]:
        rows.append((f"W=0.5 {p['targets'][0]} + {p['targets'][1]} ({p['combine']}): both >= p90",
                     pct(p["both_p90_share"]), ">= 50 % of seeds"))
    if len(s["two_objectives_w05"]) > 1:
        met = sum(p["both_p90_share"] >= 0.5 for p in s["two_objectives_w05"])
        rows.append(("  pairs meeting it", f"{met} of {len(s['two_objectives_w05'])}", ""))
    sp = s["speed"]
    if sp:
        rows.append((f"speed: {sp['iterations']} it x 8 codes, {sp['threads']} threads",
                     f"{sp['wall_s']:.0f} s wall, {sp['cpu_s']:.0f} s CPU (load {sp['loadavg_1min']:.1f})",
                     "<= 60 s (200 it, 64 px)"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)} | result | goal")
    for name, value, goal in rows:
        print(f"{name.ljust(width)} | {value} | {goal}")


def write_grid(path: Path, specs, starts, outputs) -> None:
    """One row per target: its seeds' outputs (the README grid)."""
    from nonesuch.data.grid import image_grid, upscale_for_viewing

    rows = np.concatenate([outputs[s] for s in specs])
    upscale_for_viewing(image_grid(rows, columns=len(outputs[specs[0]])), 768).save(path)


class Clock:
    def __init__(self):
        self.laps, self.wall, self.cpu = [], time.perf_counter(), time.process_time()

    def lap(self, what: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.laps.append({"what": what, "wall_s": round(wall - self.wall, 1), "cpu_s": round(cpu - self.cpu, 1)})
        print(f"  [{what}: {wall - self.wall:.0f} s wall, {cpu - self.cpu:.0f} s CPU]", flush=True)
        self.wall, self.cpu = wall, cpu


def machine(threads: int) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    return (f"{cpu}, {os.cpu_count()} cores, {threads} torch threads, torch {torch.__version__}, "
            f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
