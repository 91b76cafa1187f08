"""FID/KID of a generator against its dataset. Inception features of the real images are cached
per dataset (keyed by the pixel file's sha256), because on a CPU they cost ~0.1-0.2 s per image
and never change."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file, save_file

from nonesuch import atomic
from nonesuch.data.dataset import Dataset
from nonesuch.hashing import file_sha256
from nonesuch.metrics.distances import fid, kid
from nonesuch.metrics.inception import MetricsError, inception_features

CACHE_VERSION = 1


def real_indices(dataset: Dataset, count: int, seed: int) -> np.ndarray:
    """The same `count` images every time for a given seed (sorted, for fast memmap reads)."""
    order = np.random.default_rng([seed, 0xF1D]).permutation(len(dataset))
    return np.sort(order[:min(count, len(dataset))])


def _cache_path(dataset: Dataset, resolution: int, count: int, seed: int) -> Path:
    key = file_sha256(dataset.root / "pixels" / f"{resolution}.u8")[:16]
    name = f"inception-v{CACHE_VERSION}-{resolution}px-{count}-seed{seed}-{key}.safetensors"
    folder = dataset.root / "metrics-cache"
    if not os.access(dataset.root, os.W_OK):  # a read-only dataset: cache beside the user's other caches
        folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nonesuch" / "fid"
    return folder / name


def uint8_to_unit(pixels: np.ndarray) -> torch.Tensor:
    """[N, H, W, 3] uint8 -> [N, 3, H, W] float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float().div(127.5).sub(1)


def real_features(dataset: Dataset, resolution: int, count: int, seed: int = 0,
                  device: torch.device | str = "cpu") -> np.ndarray:
    """[n, 2048] Inception features of n = min(count, len(dataset)) real images, cached on disk."""
    indices = real_indices(dataset, count, seed)
    path = _cache_path(dataset, resolution, len(indices), seed)
    if path.is_file():
        return load_file(path)["features"]
    pixels = dataset.images(resolution)
    features = np.concatenate([
        inception_features(uint8_to_unit(pixels[indices[s:s + 256]]), device).numpy()
        for s in range(0, len(indices), 256)
    ])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(path) as tmp:
        save_file({"features": features, "indices": indices}, str(tmp))
    return features


@torch.no_grad()
def fake_features(sample: Callable, count: int, latent_dim: int, resolution: int, labels: np.ndarray | None,
                  device: torch.device | str = "cpu", seed: int = 0, batch: int = 32) -> np.ndarray:
    """Features of `count` generated images. sample(z [B, latent], labels [B] | None) -> [B, 3, r, r]."""
    random = torch.Generator().manual_seed(seed + 0xFA4E)
    out = []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        z = torch.randn(n, latent_dim, generator=random).to(device)
        y = None if labels is None else torch.from_numpy(labels[start:start + n]).to(device)
        images = sample(z, y).float()
        if images.shape[-1] < resolution:
            images = F.interpolate(images, size=(resolution, resolution), mode="nearest")
        out.append(inception_features(images, device).numpy())
    return np.concatenate(out)


def evaluate_generator(sample: Callable, dataset: Dataset, resolution: int, count: int, latent_dim: int,
                       num_classes: int = 0, device: torch.device | str = "cpu", seed: int = 0) -> dict:
    """{"fid", "kid", "metric_images"} for `count` fakes against as many cached reals.
    Conditional generators are sampled with the classes of the chosen real images, so both sides
    have the same class balance."""
    reals = real_features(dataset, resolution, count, seed, device)
    labels = dataset.label_indices()[real_indices(dataset, count, seed)] if num_classes else None
    fakes = fake_features(sample, len(reals), latent_dim, resolution, labels, device, seed)
    return {"fid": fid(reals, fakes), "kid": kid(reals, fakes, seed=seed), "metric_images": len(reals)}


def evaluate_dataset(generator, dataset: str | Path | None = None, count: int = 1000, seed: int = 0) -> dict:
    """FID/KID of a loaded Generator (gan.generator) against `dataset`; by default the dataset a
    training RUN names in its config. Sampled in fp32 without truncation (Generator.synthesize),
    as metrics have always been; MetricsError if there is no dataset to compare with."""
    folder = dataset or generator.info.trained_on.get("dataset")
    if not folder or not Path(folder).is_dir():
        raise MetricsError(f"{generator.folder}: no dataset to compare with "
                           f"({folder or 'none recorded'} is not a folder here); give one", option="dataset")
    return evaluate_generator(generator.synthesize, Dataset(folder), generator.resolution, count,
                              generator.latent_dim, len(generator.class_names), generator.device, seed)
