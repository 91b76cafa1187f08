"""Scoring a generator against its dataset: the protocol of `nonesuch metrics` and of the in-loop
metric (the same code at a smaller N, stated in the log).

- N_gen generated images (default 5000) against ALL real images of the dataset (a random 50k
  beyond that, stated), both at one resolution. Generated images are rounded to uint8 as a saved
  PNG would be and, when the generator is larger, box-filtered down exactly as the dataset's own
  ladder was made (downsample_pyramid), so the two sides differ in content, not in processing.
- KID x10^3: mean and std over subsets of min(N_real, N_gen, 1000) per side (unbiased at any N);
  FID beside it with both N's (biased, by an amount that depends on N: compare only at equal N);
  precision and recall (k = 3, manifold.py); memorisation (memorisation.py).

Inception features of the real images are cached per dataset, resolution and choice of images
(keyed by the pixel file's sha256): on a CPU they cost 0.1-1 s per image and never change.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file, save_file

from nonesuch import atomic
from nonesuch.data.dataset import Dataset, downsample_pyramid
from nonesuch.gan.snapshot import to_uint8
from nonesuch.hashing import file_sha256
from nonesuch.metrics.distances import fid, kid_subsets
from nonesuch.metrics.inception import MetricsError, inception_features
from nonesuch.metrics.manifold import precision_recall
from nonesuch.metrics.memorisation import memorisation
from nonesuch.progress import progress_bar

CACHE_VERSION = 1
REAL_CAP = 50_000       # real images scored at most (a random subset beyond), as ADA's *_full metrics
KID_SUBSETS = 100
# Upper ends for what a person asks: 100k generated images are two REAL_CAPs (0.8 GB of features,
# a day of a CPU); 10k KID subsets are 100 times the protocol's. `--generated 10**12` asked for
# 512 TB of latents, `--subsets 10**12` for 7 TiB of scores.
MAX_GENERATED = 100_000
MAX_KID_SUBSETS = 10_000
KID_SUBSET_SIZE = 1000  # per side; min(N_real, N_gen, this) is used
PR_K = 3                # Kynkäänniemi et al.'s neighbourhood size
FEATURE_BATCH = 32


def real_indices(dataset: Dataset, count: int, seed: int) -> np.ndarray:
    """The same `count` images every time for a given seed (sorted, for fast memmap reads); all of
    them when the dataset has no more."""
    if count >= len(dataset):
        return np.arange(len(dataset))
    order = np.random.default_rng([seed, 0xF1D]).permutation(len(dataset))
    return np.sort(order[:count])


def _cache_path(dataset: Dataset, resolution: int, count: int, seed: int) -> Path:
    key = file_sha256(dataset.root / "pixels" / f"{resolution}.u8")[:16]
    chosen = "all" if count >= len(dataset) else f"seed{seed}"  # the whole dataset does not depend on the seed
    name = f"inception-v{CACHE_VERSION}-{resolution}px-{min(count, len(dataset))}-{chosen}-{key}.safetensors"
    folder = dataset.root / "metrics-cache"
    if not os.access(dataset.root, os.W_OK):  # a read-only dataset: cache beside the user's other caches
        folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nonesuch" / "fid"
    return folder / name


def uint8_to_unit(pixels: np.ndarray) -> torch.Tensor:
    """[N, H, W, 3] uint8 -> [N, 3, H, W] float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float().div(127.5).sub(1)


def real_features(dataset: Dataset, resolution: int, count: int = REAL_CAP, seed: int = 0,
                  device: torch.device | str = "cpu", advance: Callable[[int], None] | None = None) -> np.ndarray:
    """[n, 2048] Inception features of n = min(count, len(dataset)) real images, cached on disk."""
    indices = real_indices(dataset, count, seed)
    path = _cache_path(dataset, resolution, len(indices), seed)
    if path.is_file():
        return load_file(path)["features"]
    pixels = dataset.images(resolution)
    features = []
    for start in range(0, len(indices), FEATURE_BATCH):
        chunk = indices[start:start + FEATURE_BATCH]
        features.append(inception_features(uint8_to_unit(pixels[chunk]), device).numpy())
        if advance:
            advance(len(chunk))
    features = np.concatenate(features)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(path) as tmp:
        save_file({"features": features, "indices": indices}, str(tmp))
    return features


def generated_latents(count: int, latent_dim: int, seed: int = 0) -> torch.Tensor:
    """[count, latent_dim]: row i is generated image i, so any one of them can be made again."""
    return torch.randn(count, latent_dim, generator=torch.Generator().manual_seed(seed + 0xFA4E))


def generated_labels(dataset: Dataset, count: int, seed: int = 0) -> np.ndarray:
    """Classes for a conditional generator, drawn with the dataset's class balance."""
    labels = dataset.label_indices()
    return np.random.default_rng([seed, 0x1AB]).choice(labels[labels >= 0], count)


@torch.no_grad()
def generated_pixels(sample: Callable, latents: torch.Tensor, labels: np.ndarray | None, resolution: int,
                     device: torch.device | str = "cpu") -> np.ndarray:
    """[B, resolution, resolution, 3] uint8. sample(z [B, latent], labels [B] | None) -> [B, 3, r, r]:
    rounded to uint8 like a saved image, then box-filtered down to `resolution` like the dataset's
    ladder (r > resolution) or enlarged by pixel repetition (a growing run's early stages)."""
    y = None if labels is None else torch.from_numpy(labels).to(device)
    images = sample(latents.to(device), y).float()
    if images.shape[-1] < resolution:
        images = F.interpolate(images, size=(resolution, resolution), mode="nearest")
    pixels = to_uint8(images)
    return downsample_pyramid(pixels)[resolution] if pixels.shape[1] > resolution else pixels


def fake_features(sample: Callable, count: int, latent_dim: int, resolution: int, labels: np.ndarray | None,
                  device: torch.device | str = "cpu", seed: int = 0, batch: int = FEATURE_BATCH,
                  advance: Callable[[int], None] | None = None) -> np.ndarray:
    """[count, 2048] features of `count` generated images (labels [count] or None)."""
    latents = generated_latents(count, latent_dim, seed)
    out = []
    for start in range(0, count, batch):
        chunk = slice(start, min(count, start + batch))
        pixels = generated_pixels(sample, latents[chunk], None if labels is None else labels[chunk],
                                  resolution, device)
        out.append(inception_features(uint8_to_unit(pixels), device).numpy())
        if advance:
            advance(len(pixels))
    return np.concatenate(out)


def score_features(reals: np.ndarray, fakes: np.ndarray, *, subsets: int = KID_SUBSETS,
                   subset_size: int = KID_SUBSET_SIZE, seed: int = 0, closest: int = 0) -> dict:
    """Every score of the protocol from two feature sets; JSON-ready, flat (one log line)."""
    kids = kid_subsets(reals, fakes, subsets, subset_size, seed)
    pr = precision_recall(reals, fakes, PR_K, seed=seed)
    copies = memorisation(reals, fakes, seed=seed)
    scores = {
        "kid_x1e3": float(kids.mean() * 1e3), "kid_std_x1e3": float(kids.std() * 1e3),
        "kid_subsets": subsets, "kid_subset_size": min(len(reals), len(fakes), subset_size),
        "fid": fid(reals, fakes),
        "precision": pr.precision, "recall": pr.recall, "pr_k": pr.k, "pr_n": pr.n, "pr_draws": pr.draws,
        "memorised": copies.share, "memorised_count": copies.count,
        "memorisation_threshold": copies.threshold,
        "n_generated": len(fakes), "n_real": len(reals),
    }
    if closest:
        scores["closest_pairs"] = [{"generated": g, "real": r, "distance": d} for g, r, d in copies.closest(closest)]
    return scores


def evaluate_generator(sample: Callable, dataset: Dataset, resolution: int, count: int, latent_dim: int,
                       num_classes: int = 0, device: torch.device | str = "cpu", seed: int = 0, *,
                       real_cap: int = REAL_CAP, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
                       closest: int = 0, progress: bool = False) -> dict:
    """`count` generated images against min(real_cap, all) real ones, at `resolution` px.

    Returns score_features()'s dict plus the protocol (resolution, seed, dataset size) and the
    generated images' feature speed. In a `closest_pairs` entry (closest > 0), "generated" is the
    row of generated_latents(count, latent_dim, seed) and "real" the dataset index. Conditional
    generators are sampled with the dataset's class balance.
    """
    indices = real_indices(dataset, real_cap, seed)
    cached = _cache_path(dataset, resolution, len(indices), seed).is_file()
    labels = generated_labels(dataset, count, seed) if num_classes else None
    total = count + (0 if cached else len(indices))
    with progress_bar("computing Inception features", total, disable=not progress) as advance:
        reals = real_features(dataset, resolution, real_cap, seed, device, advance)
        started = time.perf_counter()
        fakes = fake_features(sample, count, latent_dim, resolution, labels, device, seed, advance=advance)
        seconds = time.perf_counter() - started
    scores = score_features(reals, fakes, subsets=subsets, subset_size=subset_size, seed=seed, closest=closest)
    for pair in scores.get("closest_pairs", []):
        pair["real"] = int(indices[pair["real"]])
    return scores | {"resolution": resolution, "n_dataset": len(dataset), "seed": seed,
                     "generated_img_per_s": round(count / seconds, 4), "generated_seconds": round(seconds, 1)}


def evaluate_dataset(generator, dataset: str | Path | None = None, count: int = 5000, seed: int = 0,
                     **protocol) -> dict:
    """The protocol's scores (evaluate_generator) of a loaded Generator (gan.generator) against `dataset`; by default the dataset a
    training RUN names in its config. Sampled in fp32 without truncation (Generator.synthesize),
    as metrics have always been; MetricsError if there is no dataset to compare with."""
    folder = dataset or generator.info.trained_on.get("dataset")
    if not folder or not Path(folder).is_dir():
        raise MetricsError(f"{generator.folder}: no dataset to compare with "
                           f"({folder or 'none recorded'} is not a folder here); give one", option="dataset")
    return evaluate_generator(generator.synthesize, Dataset(folder), generator.resolution, count,
                              generator.latent_dim, len(generator.class_names), generator.device, seed,
                              **protocol)
