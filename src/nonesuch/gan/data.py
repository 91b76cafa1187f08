"""Real images for training, in an order that is a pure function of (seed, images seen).

Epoch e visits the dataset in the permutation drawn from numpy's generator seeded with
(seed, e). The batch for any point in training can therefore be recomputed after a crash
without saving a data-loader's state, and every process of a torchrun job agrees on it.
"""

from __future__ import annotations

import numpy as np
import torch

from nonesuch.data.dataset import Dataset
from nonesuch.gan.layers import upsample2x


class TrainingImages:
    def __init__(self, dataset: Dataset, resolution: int, labels: np.ndarray | None, seed: int):
        self.dataset, self.resolution, self.seed = dataset, resolution, seed
        self.labels = labels  # [N] int64 class indices, or None for unconditional runs
        self.count = len(dataset)
        self._pixels = {r: dataset.images(r) for r in dataset.resolutions if r <= resolution}  # memmaps
        self._epoch, self._order = -1, np.empty(0, np.int64)

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._epoch, self._order = epoch, np.random.default_rng([self.seed, epoch]).permutation(self.count)
        return self._order

    def indices(self, start: int, count: int) -> np.ndarray:
        """Dataset indices of the images at global positions start .. start + count - 1."""
        positions = np.arange(start, start + count)
        epochs, offsets = np.divmod(positions, self.count)
        return np.array([self._permutation(e)[o] for e, o in zip(epochs, offsets)], dtype=np.int64)

    def _read(self, indices: np.ndarray, resolution: int, device: torch.device) -> torch.Tensor:
        pixels = torch.from_numpy(np.ascontiguousarray(self._pixels[resolution][indices]))  # [B, r, r, 3] uint8
        # NHWC -> NCHW as a view: the tensor is channels_last in memory, what oneDNN/cuDNN like.
        return pixels.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)

    def batch(self, images_seen: int, batch: int, resolution: int, alpha: float, flip: torch.Tensor | None,
              device: torch.device, rank: int = 0, world_size: int = 1):
        """This process's share of the global batch starting at `images_seen`.

        Returns reals [b, 3, r, r] float32 in [-1, 1] and labels [b] int64 (or None). While a
        resolution fades in, reals are blended the same way G's output is: a lerp between the
        upsampled half-resolution image and the full one. flip: [b] bool, mirror those images.
        """
        share = batch // world_size
        indices = self.indices(images_seen, batch)[rank * share:(rank + 1) * share]
        reals = self._read(indices, resolution, device)
        if alpha < 1.0 and resolution > 4:
            reals = torch.lerp(upsample2x(self._read(indices, resolution // 2, device)), reals, alpha)
        if flip is not None:
            reals = torch.where(flip.to(device)[:, None, None, None], reals.flip(3), reals)
        labels = None if self.labels is None else torch.from_numpy(self.labels[indices]).to(device)
        return reals, labels
