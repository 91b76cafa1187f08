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

--actions counts a person's actions instead of labels (embeddings cached, not timed): a simulated
person confirms pages (curate/pages.py; 1 action a page, 1 per flip of a wrong proposal, and
misses --miss = 3 % of the flips it should make, so some labels are wrong) or labels one by one
(1 action a label, no misses: the old labels-based curve). Curves of held-out AP vs actions for
each --page-choices (default: the shipped 'uncertain' and 'random' pages) and one by one; the
review view (curate/review.py) is scored by how many of the wrong labels at 50 actions are among
its first 20 items. --time-round times one page round on 10,000 Fashion-MNIST images.

    .venv/bin/python benchmarks/bench_curate.py [--work DIR] [--seeds 5] [--all-targets]
    .venv/bin/python benchmarks/bench_curate.py --actions [--all-targets] [--seeds 5] [--time-round]
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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from nonesuch.cpus import blas_threads
from nonesuch.curate.classifier import (can_fit, classifier_features, fit_classifier, keep_probability,
                                        smooth_over_neighbours)
from nonesuch.curate.embed import EmbedConfig, embed_dataset, onnx_model_path, source_resolution
from nonesuch.curate.clusters import ClusterConfig, nearest_neighbours, reduce_features
from nonesuch.curate.pages import PAGE_CHOICES, PageConfig, PageStrategy
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
                 seed: int, strategy: QueryStrategy | None = None, max_labels: int = MAX_LABELS) -> dict[int, float]:
    """AP on the test set after every batch of 5 labels, up to max_labels. strategy: ours, if
    already built for this pool and seed (k-means is the costly part)."""
    rng = np.random.default_rng(seed)
    labelled: list[int] = []
    curve: dict[int, float] = {}
    if name == "ours" and strategy is None:
        strategy = QueryStrategy(features_pool, QueryConfig(clusters=ClusterConfig(seed=seed)))
    while len(labelled) < max_labels:
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


# --- actions: a simulated person labelling pages ----------------------------------------------

ACTION_BUDGETS = [10, 20, 30, 50]
REVIEW_AT = 50          # the review view is scored on the labels a person has after this many actions
REVIEW_ITEMS = 20


def fit_and_score(x_all: np.ndarray, pool_size: int, labelled: list[int], given: np.ndarray, y_test: np.ndarray,
                  neighbours: np.ndarray) -> tuple[np.ndarray | None, float]:
    """(smoothed keep probability of the pool images or None, held-out AP) after one refit.
    x_all: [pool..., test...] classifier features, as the neighbours are indexed."""
    if not can_fit(given):
        return None, float(y_test.mean())
    smoothed = smooth_over_neighbours(keep_probability(fit_classifier(x_all[labelled], given), x_all), neighbours)
    return smoothed[:pool_size], average_precision(y_test, smoothed[pool_size:])


@dataclass
class PageRun:
    curve: dict[int, float]              # actions -> held-out AP after the page that ended there
    labels: dict[int, int]               # actions -> labels given by then
    snapshot: dict[int, int]             # {pool idx: given label} at REVIEW_AT actions
    wrong_found_by_review: tuple[int, int]   # (wrong labels in the review's first items, wrong labels)


def run_pages(strategy: PageStrategy, x_all, y_pool, y_test, neighbours, seed: int, miss: float,
              max_actions: int) -> PageRun:
    """A person confirms pages: 1 action a page plus 1 per flip; misses `miss` of the flips."""
    rng = np.random.default_rng(10_000 + seed)
    given: dict[int, int] = {}
    actions, probability = 0, None
    curve, labels, snapshot = {0: float(y_test.mean())}, {0: 0}, {}
    while actions < max_actions:
        page = strategy.next({i: "keep" if v else "discard" for i, v in given.items()}, probability)
        if not page.items:
            break
        answers = {}
        for item in page.items:
            proposed, truth = int(item.proposed == "keep"), int(y_pool[item.idx])
            flip = proposed != truth and rng.random() >= miss           # a missed flip keeps the wrong answer
            answers[item.idx] = truth if flip else proposed
        cost = 1 + sum(int(item.proposed == "keep") != answers[item.idx] for item in page.items)   # confirm + flips
        answer = int(page.items[0].proposed == "keep") if page.unseen else 0
        answers.update(dict.fromkeys(page.unseen, answer))               # a whole cluster: the rest unseen, right or not
        if actions + cost > REVIEW_AT and not snapshot:
            snapshot = dict(given)
        given.update(answers)
        actions += cost
        indices = list(given)
        probability, curve[actions] = fit_and_score(x_all, len(y_pool), indices, np.array([given[i] for i in indices]),
                                                    y_test, neighbours)
        labels[actions] = len(given)
    snapshot = snapshot or dict(given)
    return PageRun(curve, labels, snapshot, review_hits(x_all, snapshot, y_pool))


def review_hits(x_all, given: dict[int, int], y_pool) -> tuple[int, int]:
    """(wrong labels among the review's first REVIEW_ITEMS, wrong labels in all)."""
    from nonesuch.curate.review import disagreement_order

    indices = np.array(list(given))
    labels = np.array([given[i] for i in indices])
    wrong = labels != y_pool[indices]
    order = disagreement_order(x_all[indices], labels)
    return int(wrong[order[:REVIEW_ITEMS]].sum()), int(wrong.sum())


def at_budget(curve: dict[int, float], budget: int) -> float:
    """The value after the last page that ended within the budget (a page is all or nothing)."""
    return curve[max(a for a in curve if a <= budget)]


def actions_to_reach(curve: dict[int, float], level: float) -> int | None:
    return next((a for a in sorted(curve) if curve[a] >= level), None)


def benchmark_actions(title: str, features: np.ndarray, y: np.ndarray, seeds: int, miss: float,
                      max_actions: int, choices: tuple[str, ...], max_labels: int = MAX_LABELS) -> dict:
    """{curve name: {budget: mean AP}} plus full AP, review hits and labels, printed as a table."""
    x = classifier_features(features)
    pool, test = split(y)
    order = np.concatenate([pool, test])
    neighbours = nearest_neighbours(reduce_features(features[order], 64))
    x_all, y_pool, y_test = x[order], y[pool], y[test]
    everything = list(range(len(pool)))
    full = max(held_out_ap(x[pool], y_pool, everything, x[test], y_test, neighbours),
               held_out_ap(x[pool], y_pool, everything, x[test], y_test, neighbours, smooth=False))
    print(f"\n## {title}: {len(pool)} pool / {len(test)} held-out, {y.mean():.1%} positive; full-label AP "
          f"{full:.3f} (95 %: {0.95 * full:.3f}); {miss:.0%} of flips missed")
    result = {"full": full, "curves": {}, "labels": {}, "reviews": {}}
    queries = [QueryStrategy(features[pool], QueryConfig(clusters=ClusterConfig(seed=seed))) for seed in range(seeds)]
    for choice in choices:
        start = time.perf_counter()
        config = page_config(choice)
        runs = [run_pages(PageStrategy(queries[seed], config), x_all, y_pool, y_test,
                          neighbours, seed, miss, max_actions) for seed in range(seeds)]
        name = f"pages:{choice}"
        budgets = [b for b in ACTION_BUDGETS if b <= max_actions]
        result["curves"][name] = mean_curve([r.curve for r in runs], max_actions)
        result["labels"][name] = {b: float(np.mean([at_budget(r.labels, b) for r in runs])) for b in budgets}
        hits = np.sum([r.wrong_found_by_review for r in runs], axis=0)
        result["reviews"][name] = hits.tolist()
        aps = "  ".join(f"{at_budget(result['curves'][name], b):.3f} ({result['labels'][name][b]:.0f})" for b in budgets)
        reach = actions_to_reach(result["curves"][name], 0.95 * full)
        per_seed = " ".join(f"{found}/{wrong}" for found, wrong in (r.wrong_found_by_review for r in runs))
        print(f"{name:>18}  {aps}   95 % at {reach or '>' + str(max_actions):>4} actions; review finds "
              f"{hits[0]}/{hits[1]} wrong labels in its first {REVIEW_ITEMS} (per seed {per_seed})"
              f"   ({time.perf_counter() - start:.0f} s)")
    start = time.perf_counter()
    one_by_one = [run_strategy("ours", features[pool], x[pool], y_pool, x[test], y_test, neighbours, seed,
                               queries[seed], max_labels) for seed in range(seeds)]
    result["curves"]["one-by-one"] = mean_curve([{0: float(y_test.mean()), **c} for c in one_by_one], max_labels)
    curve = result["curves"]["one-by-one"]
    reach = actions_to_reach(curve, 0.95 * full)
    later = [n for n in (100, 200) if n <= max_labels]
    print(f"{'one-by-one':>18}  " + "  ".join(f"{at_budget(curve, b):.3f} ({b:>3})" for b in ACTION_BUDGETS)
          + f"   95 % at {reach or '>' + str(max_labels):>4} actions (= labels, no misses)"
          + (f"; AP at {'/'.join(map(str, later))} labels " + "/".join(f"{at_budget(curve, n):.3f}" for n in later)
             if later else "") + f"   ({time.perf_counter() - start:.0f} s)")
    print(f"{'':>18}  " + "  ".join(f"{b:>11}" for b in ACTION_BUDGETS) + "   <- actions: mean AP (labels)")
    return result


def page_config(choice: str) -> PageConfig:
    """'NAME[:option...]' -> its PageConfig. Options: 'prior' (prior-corrected proposals); for
    'clusters': 'fine' (the k=64 clusters), 'far' (show the members farthest from the centre),
    'uNN' (labelled whole from NN % uniform)."""
    name, *options = choice.split(":")
    config = PageConfig(choice=name, prior_correction="prior" in options)
    for option in options:
        if option == "fine":
            config = replace(config, cluster_level="fine")
        elif option == "far":
            config = replace(config, cluster_shown="far")
        elif option.startswith("u"):
            config = replace(config, cluster_uniformity=int(option[1:]) / 100)
        elif option != "prior":
            raise SystemExit(f"unknown page option {option!r} in {choice!r}")
    return config


def mean_curve(curves: list[dict[int, float]], last: int) -> dict[int, float]:
    """Step curves on different action grids -> their mean at every action count 0..last."""
    return {a: float(np.mean([at_budget(c, a) for c in curves])) for a in range(last + 1)}


def summarise_actions(rows: list[tuple[str, dict]], choices: tuple[str, ...]) -> None:
    names = [f"pages:{c}" for c in choices] + ["one-by-one"]
    print(f"\n# every target, mean of the seeds: AP at 50 actions as a share of full-label AP")
    print(f"{'target':>34}  {'full AP':>7}  " + "  ".join(f"{n:>15}" for n in names))
    shares = {n: [] for n in names}
    for title, result in rows:
        for n in names:
            shares[n].append(at_budget(result["curves"][n], 50) / result["full"])
        print(f"{title:>34}  {result['full']:7.3f}  " + "  ".join(f"{shares[n][-1]:15.0%}" for n in names))
    for n in names:
        share = np.array(shares[n])
        print(f"{n:>18} at 50 actions: mean {share.mean():.0%} of full-label AP, worst {share.min():.0%}, "
              f"95 % reached on {(share >= 0.95).sum()} of {len(share)} targets")
    for n in names[:-1]:
        found, wrong = np.sum([result["reviews"][n] for _, result in rows], axis=0)
        print(f"{n:>18}: review's first {REVIEW_ITEMS} items hold {found} of the {wrong} wrong labels "
              f"({found / max(wrong, 1):.0%}) at {REVIEW_AT} actions")


def time_round(work: Path, count: int = 10_000, labels: int = 300, rounds: int = 12) -> None:
    """One round of the page as a person meets it: confirm a page (store + refit + score + choose
    the next page) on `count` images, through CurationSession; best and median of `rounds`, in
    wall-clock seconds and in CPU seconds of this process (on a shared machine the wall clock
    measures the neighbours as much as the code)."""
    from nonesuch.curate.session import CurationSession

    dataset = build_fashion(work / f"fashion32-{count}", count)
    embed_dataset(dataset)
    (dataset.root / "labels.sqlite").unlink(missing_ok=True)
    truth = np.array(dataset.labels()) == "T-shirt/top"
    session = CurationSession(dataset, "timing")
    chosen = np.random.default_rng(0).choice(count, labels, replace=False)
    session.label_page([(int(i), "keep" if truth[i] else "discard") for i in chosen])
    with blas_threads(1):                      # untimed: clusters and neighbours, built once as the page's start does
        page = session.next_page()
    walls, cpus, state = [], [], []
    for _ in range(rounds):
        start, cpu_start = time.perf_counter(), time.process_time()
        session.label_page([(item.idx, "keep" if truth[item.idx] else "discard") for item in page.items])
        page = session.next_page()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu_start)
        start = time.perf_counter()
        session.report()
        state.append(time.perf_counter() - start)
    print(f"\n## one round on {count} images ({labels}+ labels): confirm, refit, score, choose the next page, "
          f"{rounds} rounds: wall best {min(walls):.2f} s, median {np.median(walls):.2f} s, worst {max(walls):.2f} s; "
          f"CPU best {min(cpus):.2f} s, median {np.median(cpus):.2f} s; the page's live CV figures after it: "
          f"median {np.median(state):.2f} s; {len(os.sched_getaffinity(0))} cores, load {os.getloadavg()[0]:.1f}")


def main_actions(args, datasets: dict[str, tuple[Dataset, str]]) -> None:
    # One BLAS/OpenMP thread: these figures are AP, not time, and on the shared machine they were
    # taken on, two threads spin-waiting for each other made a run 10-30x slower in wall clock.
    with blas_threads(1):
        simulate_actions(args, datasets)
    if args.time_round:
        time_round(args.work)


def simulate_actions(args, datasets: dict[str, tuple[Dataset, str]]) -> None:
    choices = tuple(args.page_choices.split(","))
    print(f"\n# AP on held-out images vs a person's ACTIONS (a page confirm, a flip or a one-by-one label), "
          f"mean over {args.seeds} seeds; pages of {PageConfig().size}; in brackets the labels they gave")
    rows = []
    for attribute, (dataset, chosen) in datasets.items():
        labels = np.array(dataset.labels())
        targets = [t for t in (sorted(set(labels)) if args.all_targets else [chosen])
                   if not args.only or any(o in t for o in args.only.split(","))]
        features = np.asarray(load_or_embed(dataset).features) if targets else None
        for target in targets:
            title = f"{attribute} '{target}' vs rest"
            rows.append((title, benchmark_actions(title, features, (labels == target).astype(np.int64), args.seeds,
                                                  args.miss, args.max_actions, choices, args.max_labels)))
    if rows:
        summarise_actions(rows, choices)


def load_or_embed(dataset: Dataset):
    from nonesuch.curate.embed import load_embeddings
    from nonesuch.curate.errors import CurateError

    try:
        return load_embeddings(dataset)
    except CurateError:
        return embed_dataset(dataset)


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
    parser.add_argument("--actions", action="store_true",
                        help="AP vs a simulated person's actions in page mode (embeddings cached, not timed)")
    parser.add_argument("--miss", type=float, default=0.03, help="with --actions: share of needed flips missed")
    parser.add_argument("--max-actions", type=int, default=60)
    parser.add_argument("--max-labels", type=int, default=MAX_LABELS,
                        help="with --actions: how far the one-by-one (labels-based) curve goes")
    parser.add_argument("--page-choices", default="uncertain,random",
                        help=f"with --actions: comma-separated page choices among {', '.join(PAGE_CHOICES)}; "
                             "NAME:prior proposes by the probability corrected for the labels' keep share")
    parser.add_argument("--only", default="", help="with --actions: targets whose name contains one of these")
    parser.add_argument("--time-round", action="store_true", help="with --actions: also time one round on 10k images")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"# bench_curate on {platform.node()}: {cpu}, {len(os.sched_getaffinity(0))} cores, "
          f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} at start")
    onnx_model_path(EmbedConfig(precision="float32"))
    onnx_model_path(EmbedConfig(precision=args.precision))
    fashion = build_fashion(args.work / "fashion32", args.fashion_count) if FASHION.exists() else None
    emoji = build_openmoji(args.work / "openmoji64", args.work)
    if args.actions:
        datasets = {"OpenMoji": (emoji, args.emoji_group)}
        if fashion is not None:
            datasets = {"Fashion-MNIST": (fashion, args.fashion_class), **datasets}
        return main_actions(args, datasets)

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
