"""Curation benchmark: embedding speed, and AP vs number of labels with a simulated oracle.

Two local image sets, one target each (one class vs the rest):
  (a) Fashion-MNIST (Debian `dataset-fashion-mnist`), 4,000 training images padded to 32 px;
  (b) OpenMoji, all 1,914 emoji rendered at 64 px, one Unicode group vs the rest.
Each set is split once into a pool (75 %) and a held-out test set (25 %), stratified. A strategy
sees only pool features and asks for labels in batches of 5; the oracle reveals only what it asks.
After every batch a logistic regression is fitted on the labels so far; its probabilities,
smoothed over each image's 10 nearest look-alikes (what `apply` cuts by), are scored by average
precision (AP) on the held-out set. Full-label AP is the same classifier on every pool label.
Strategies: ours (typical image of each k-means cluster first, exploration until a keep and a
discard exist, then margin sampling spread over clusters; see curate/query.py), random sampling,
and margin-only (random cold start, then plain margin) as ablation. --all-targets runs every
Fashion-MNIST class and every OpenMoji group in turn and ends with one line per target.

    .venv/bin/python benchmarks/bench_curate.py [--work DIR] [--seeds 5] [--all-targets]
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from nonesuch.curate.classifier import (can_fit, classifier_features, fit_classifier, keep_probability,
                                        smooth_over_neighbours)
from nonesuch.curate.embed import EmbedConfig, embed_dataset, onnx_model_path, source_resolution
from nonesuch.curate.clusters import ClusterConfig, nearest_neighbours, reduce_features
from nonesuch.curate.query import QueryConfig, QueryStrategy
from nonesuch.data import Dataset, DatasetWriter, ImageRecord
from nonesuch.data.openmoji import render_openmoji

FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
REPORTED_BUDGETS = [10, 20, 30, 50, 100, 200]
BATCH = 5
MAX_LABELS = 200


def peak_rss_mib() -> tuple[float, float]:
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def build_fashion(out: Path, count: int = 4000) -> Dataset:
    if (out / "dataset.json").exists():
        return Dataset(out)
    images = np.frombuffer(gzip.open(FASHION / "train-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    labels = np.frombuffer(gzip.open(FASHION / "train-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    images = images.reshape(-1, 28, 28)
    chosen = np.sort(np.random.default_rng(0).choice(len(images), count, replace=False))
    # Fashion-MNIST is white-on-black 28 px; pad to 32 (a power of two) and invert to dark-on-white
    # like product photos.
    padded = np.pad(255 - images[chosen], ((0, 0), (2, 2), (2, 2)), constant_values=255)
    rgb = np.repeat(padded[..., None], 3, axis=3)                       # [count, 32, 32, 3] uint8
    writer = DatasetWriter(out, 32, config={"source": "fashion-mnist train", "count": count})
    records = [ImageRecord(sha256=f"fashion-{i}", source=f"fashion-mnist:{i}", width=28, height=28, mode="L",
                           label=FASHION_CLASSES[labels[i]]) for i in chosen]
    writer.append(rgb, records)
    writer.close()
    return Dataset(out)


def build_openmoji(out: Path, work: Path) -> Dataset:
    if (out / "dataset.json").exists():
        return Dataset(out)
    pngs = work / "openmoji-png"
    render_openmoji(pngs, 64)
    files = sorted(pngs.glob("*/*.png"))
    white = Image.new("RGBA", (64, 64), "white")
    images = np.stack([np.asarray(Image.alpha_composite(white, Image.open(f).convert("RGBA")).convert("RGB"))
                       for f in files])
    writer = DatasetWriter(out, 64, config={"source": "openmoji 64 px"})
    writer.append(images, [ImageRecord(sha256=f.parent.name + f.stem, source=str(f), label=f.parent.name)
                           for f in files])
    writer.close()
    return Dataset(out)


def embed_timed(dataset: Dataset, config: EmbedConfig) -> tuple[np.ndarray, float, float]:
    """(features, wall-clock img/s, img per CPU-second x cores). The second figure is what the
    cores would give if nothing else ran: on a shared machine wall-clock speed measures the
    neighbours as much as the code."""
    shutil.rmtree(dataset.root / "embeddings", ignore_errors=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    embeddings = embed_dataset(dataset, config)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    cores = len(os.sched_getaffinity(0))
    return np.asarray(embeddings.features), len(dataset) / wall, len(dataset) / cpu * cores


def configuration_comparison(dataset: Dataset, n: int = 512) -> dict[str, list[float]]:
    """img/s of float32 vs int8 graphs and of 2 sessions x 1 thread vs 1 x 2, alternated in one
    run (load drifts, so only ratios inside one run mean much on a shared machine)."""
    from concurrent.futures import ThreadPoolExecutor

    from nonesuch.curate.embed import _run_chunk, _sessions

    pixels = np.asarray(dataset.images(source_resolution(dataset, 224))[:n])
    configs = {"float32, 2 sessions x 1 thread": EmbedConfig(precision="float32"),
               "int8, 2 sessions x 1 thread": EmbedConfig(precision="int8"),
               "int8, 1 session x 2 threads": EmbedConfig(precision="int8", sessions=1)}
    runners = {name: _sessions(config) for name, config in configs.items()}
    speeds: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(3):
        for name, config in configs.items():
            with ThreadPoolExecutor(len(runners[name])) as pool:
                _run_chunk(runners[name], pixels[:64], config, pool)                 # warm-up
                start = time.perf_counter()
                _run_chunk(runners[name], pixels, config, pool)
                speeds[name].append(n / (time.perf_counter() - start))
    return speeds


def feature_agreement(dataset: Dataset, n: int = 256) -> tuple[float, float]:
    """(mean, min) cosine between int8 and float32 features of the first n images."""
    from concurrent.futures import ThreadPoolExecutor

    from nonesuch.curate.embed import _run_chunk, _sessions

    pixels = np.asarray(dataset.images(source_resolution(dataset, 224))[:n])
    features = []
    for config in (EmbedConfig(precision="float32"), EmbedConfig(precision="int8")):
        with ThreadPoolExecutor(config.sessions) as pool:
            features.append(_run_chunk(_sessions(config), pixels, config, pool)[0])
    a, b = features
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(cosine.mean()), float(cosine.min())


# --- the simulated labelling ------------------------------------------------------------------

def split(y: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified 75/25 pool/test split, fixed across seeds so every run is scored on one test set."""
    rng = np.random.default_rng(seed)
    pool, test = [], []
    for value in (0, 1):
        members = rng.permutation(np.flatnonzero(y == value))
        cut = int(len(members) * 0.75)
        pool.append(members[:cut])
        test.append(members[cut:])
    return np.sort(np.concatenate(pool)), np.sort(np.concatenate(test))


def average_precision(y_true: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y_true, score))


def held_out_ap(x_pool, y_pool, labelled: list[int], x_test, y_test, neighbours, smooth: bool = True) -> float:
    """AP of what `apply` cuts by: the classifier's probability smoothed over look-alikes."""
    y = y_pool[labelled]
    if not can_fit(y):                      # one class only: no classifier, AP of a coin toss
        return float(y_test.mean())
    x_all = np.concatenate([x_pool, x_test])
    probability = keep_probability(fit_classifier(x_pool[labelled], y), x_all)
    if not smooth:
        return average_precision(y_test, probability[len(x_pool):])
    return average_precision(y_test, smooth_over_neighbours(probability, neighbours)[len(x_pool):])


def run_strategy(name: str, features_pool, x_pool, y_pool, x_test, y_test, neighbours,
                 seed: int) -> dict[int, float]:
    """AP on the test set after every batch of 5 labels, up to 200."""
    rng = np.random.default_rng(seed)
    labelled: list[int] = []
    curve: dict[int, float] = {}
    strategy = None
    if name == "ours":
        strategy = QueryStrategy(features_pool, QueryConfig(clusters=ClusterConfig(seed=seed)))
    while len(labelled) < MAX_LABELS:
        seen = dict.fromkeys(labelled, "x")
        probability = None
        y = y_pool[labelled]
        if labelled and can_fit(y):
            probability = keep_probability(fit_classifier(x_pool[labelled], y), x_pool)
        if name == "random" or (name == "margin-only" and (probability is None or len(labelled) < 10)):
            unseen = np.setdiff1d(np.arange(len(y_pool)), labelled)
            batch = rng.choice(unseen, BATCH, replace=False).tolist()
        elif name == "margin-only":
            margin = np.abs(probability - 0.5)
            margin[labelled] = np.inf
            batch = np.argsort(margin, kind="stable")[:BATCH].tolist()
        else:
            labels = {i: ("keep" if y_pool[i] else "discard") for i in seen}
            batch = [q.idx for q in strategy.next(labels, probability, BATCH)]
        labelled += batch
        curve[len(labelled)] = held_out_ap(x_pool, y_pool, labelled, x_test, y_test, neighbours)
    return curve


def labels_to_reach(curve: dict[int, float], level: float) -> int | None:
    return next((n for n in sorted(curve) if curve[n] >= level), None)


def benchmark_target(title: str, features: np.ndarray, y: np.ndarray, seeds: int,
                     strategies: tuple[str, ...] = ("ours", "random", "margin-only")) -> tuple[float, dict]:
    """(full-label AP, {strategy: {labels: mean AP}}), printing a curve per strategy."""
    x = classifier_features(features)
    pool, test = split(y)
    # Neighbours among all images (as `apply` sees the whole dataset), indexed as [pool..., test...].
    order = np.concatenate([pool, test])
    neighbours = nearest_neighbours(reduce_features(features[order], 64))   # [N, 10]
    everything = list(range(len(pool)))
    smoothed = held_out_ap(x[pool], y[pool], everything, x[test], y[test], neighbours)
    plain = held_out_ap(x[pool], y[pool], everything, x[test], y[test], neighbours, smooth=False)
    full = max(smoothed, plain)      # the goal is measured against the better of the two
    print(f"\n## {title}: {len(pool)} pool / {len(test)} held-out images, {y.mean():.1%} positive; "
          f"full-label AP {full:.3f} (smoothed {smoothed:.3f}, plain classifier {plain:.3f}; 95 %: {0.95 * full:.3f})")
    means = {}
    for name in strategies:
        start = time.perf_counter()
        curves = [run_strategy(name, features[pool], x[pool], y[pool], x[test], y[test], neighbours, seed)
                  for seed in range(seeds)]
        means[name] = {n: float(np.mean([c[n] for c in curves])) for n in curves[0]}
        stds = {n: float(np.std([c[n] for c in curves])) for n in curves[0]}
        row = "  ".join(f"{means[name][n]:.3f}±{stds[n]:.3f}" for n in REPORTED_BUDGETS)
        need = labels_to_reach(means[name], 0.95 * full)
        area = np.mean(list(means[name].values()))
        print(f"{name:>12}  {row}   95%-of-full at: {need or '>200':>4} labels   mean AP 5..200: {area:.3f}"
              f"   ({time.perf_counter() - start:.0f} s)")
    ours, rnd = labels_to_reach(means["ours"], 0.95 * full), labels_to_reach(means["random"], 0.95 * full)
    ratio = (rnd or MAX_LABELS * 2) / ours if ours else None
    print(f"{'':>12}  " + "  ".join(f"{n:>11}" for n in REPORTED_BUDGETS) + "   <- labels")
    print(f"label efficiency vs random at 95 % of full AP: "
          + (f"{'>' if rnd is None else ''}{ratio:.1f}x" if ratio else "ours did not reach it"))
    return full, means


def summarise_targets(rows: list[tuple[str, float, dict]]) -> None:
    """One line per target: how close 50 labels come to all of them, and labels to 95 %."""
    print(f"\n# every target, mean of the seeds: AP at 50 labels as a share of full-label AP; labels to 95 %")
    print(f"{'target':>34}  {'full AP':>7}  {'ours@50':>8}  {'random@50':>9}  {'ours to 95%':>11}  {'random to 95%':>13}")
    shares = []
    for title, full, means in rows:
        reach = {name: labels_to_reach(means[name], 0.95 * full) for name in ("ours", "random")}
        shares.append(means["ours"][50] / full)
        print(f"{title:>34}  {full:7.3f}  {means['ours'][50] / full:8.0%}  {means['random'][50] / full:9.0%}  "
              f"{reach['ours'] or '>' + str(MAX_LABELS):>11}  {reach['random'] or '>' + str(MAX_LABELS):>13}")
    print(f"ours at 50 labels: mean {np.mean(shares):.0%} of full-label AP, worst {np.min(shares):.0%}, "
          f"95 % reached on {sum(s >= 0.95 for s in shares)} of {len(shares)} targets")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "nonesuch-bench-curate")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--fashion-count", type=int, default=4000)
    parser.add_argument("--fashion-class", default="T-shirt/top")
    parser.add_argument("--emoji-group", default="animals-nature")
    parser.add_argument("--embedding-only", action="store_true", help="Measure embedding speed and stop.")
    parser.add_argument("--all-targets", action="store_true",
                        help="every Fashion-MNIST class and every OpenMoji group in turn (ours and random only)")
    parser.add_argument("--precision", default=EmbedConfig().precision, choices=["float32", "int8"],
                        help="graph the AP curves are measured on (default: what `curate embed` uses)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"# bench_curate on {platform.node()}: {cpu}, {len(os.sched_getaffinity(0))} cores, "
          f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} at start")
    onnx_model_path(EmbedConfig(precision="float32"))
    onnx_model_path(EmbedConfig(precision=args.precision))
    fashion = build_fashion(args.work / "fashion32", args.fashion_count) if FASHION.exists() else None
    emoji = build_openmoji(args.work / "openmoji64", args.work)

    print(f"\n## embedding (EfficientNet-Lite0, ONNX Runtime, 224 px input, {args.precision})")
    results = {}
    for name, dataset in (("fashion-mnist 32 px", fashion), ("openmoji 64 px", emoji)):
        if dataset is None:
            print(f"{name}: skipped, install Debian's dataset-fashion-mnist")
            continue
        features, speed, idle_speed = embed_timed(dataset, EmbedConfig(precision=args.precision))
        results[name] = (dataset, features)
        print(f"{name:>20}: {len(dataset)} images, {speed:.0f} img/s wall-clock "
              f"(load {os.getloadavg()[0]:.1f}); {idle_speed:.0f} img/s from CPU time x cores")
    for name, values in configuration_comparison(emoji).items():
        print(f"{name:>32}: " + ", ".join(f"{v:.0f}" for v in values) + " img/s (alternated)")
    for name, dataset in (("fashion-mnist 32 px", fashion), ("openmoji 64 px", emoji)):
        if dataset is not None:
            mean, low = feature_agreement(dataset)
            print(f"{name:>20}: int8 vs float32 features, cosine mean {mean:.3f}, min {low:.3f}")
    print(f"peak RSS: {peak_rss_mib()[0]:.0f} MiB (self), {peak_rss_mib()[1]:.0f} MiB (children)")
    if args.embedding_only:
        return

    print(f"\n# AP on held-out images vs labels, mean±std over {args.seeds} seeds")
    print(f"{'labels:':>12}  " + "  ".join(f"{n:>11}" for n in REPORTED_BUDGETS))
    targets = []                                          # (title, features, y)
    for name, attribute, chosen in (("fashion-mnist 32 px", "Fashion-MNIST", args.fashion_class),
                                    ("openmoji 64 px", "OpenMoji", args.emoji_group)):
        if name not in results:
            continue
        dataset, features = results[name]
        labels = np.array(dataset.labels())
        for target in (sorted(set(labels)) if args.all_targets else [chosen]):
            targets.append((f"{attribute} '{target}' vs rest", features, (labels == target).astype(np.int64)))
    strategies = ("ours", "random") if args.all_targets else ("ours", "random", "margin-only")
    rows = [(title, *benchmark_target(title, features, y, args.seeds, strategies)) for title, features, y in targets]
    summarise_targets(rows)
    print(f"\npeak RSS: {peak_rss_mib()[0]:.0f} MiB (self), {peak_rss_mib()[1]:.0f} MiB (children)")


if __name__ == "__main__":
    main()
