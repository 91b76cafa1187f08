"""Duplicate detection: exact (same file bytes) and near (same picture, re-encoded or resized).

Exact duplicates are found by the sha256 of the source bytes. Near duplicates by a 64-bit DCT
perceptual hash (pHash): shrink to 32x32 grey, take the 2-D DCT, keep the 8x8 lowest
frequencies and set one bit per coefficient above their median. Re-encoding, resizing and mild
colour shifts move few bits; different pictures differ in about half of them. Two images are near
duplicates when their hashes differ in at most `max_distance` bits.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

HASH_SIDE = 8      # 8x8 = 64 bits
SHRINK_SIDE = 32   # DCT input: 4x the hash side keeps the low frequencies meaningful


def _dct_matrix(n: int) -> np.ndarray:
    """[n, n] orthonormal DCT-II basis: dct(x) = D @ x for a column vector x."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d


_DCT = _dct_matrix(SHRINK_SIDE)[:HASH_SIDE]  # [8, 32]: only the low-frequency rows are needed


def perceptual_hash(pixels: np.ndarray) -> int:
    """pixels: [R, R, 3] uint8, a square dataset image. Returns a 64-bit pHash as a Python int."""
    grey = pixels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # [R, R]
    side = grey.shape[0]
    if side % SHRINK_SIDE == 0:  # box-average down to 32x32: exact for power-of-two sides >= 32
        k = side // SHRINK_SIDE
        small = grey.reshape(SHRINK_SIDE, k, SHRINK_SIDE, k).mean(axis=(1, 3))
    else:
        small = np.asarray(Image.fromarray(grey, "F").resize((SHRINK_SIDE, SHRINK_SIDE), Image.BICUBIC))
    low = _DCT @ small.astype(np.float64) @ _DCT.T  # [8, 8] lowest frequencies
    bits = (low > np.median(low)).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def hash_to_hex(value: int) -> str:
    return f"{value:016x}"


class NearDuplicateIndex:
    """The pHashes of the images kept so far; answers "is this one within max_distance bits of one
    of them?" with one vectorised XOR + popcount over all of them."""

    def __init__(self, max_distance: int):
        self.max_distance = max_distance
        self._hashes = np.zeros(1024, np.uint64)
        self._indices = np.zeros(1024, np.int64)
        self._count = 0

    def add(self, value: int, index: int) -> None:
        if self._count == len(self._hashes):
            self._hashes = np.resize(self._hashes, 2 * self._count)
            self._indices = np.resize(self._indices, 2 * self._count)
        self._hashes[self._count] = value
        self._indices[self._count] = index
        self._count += 1

    def find(self, value: int) -> int | None:
        """The dataset index of the closest kept image within max_distance bits, else None."""
        if not self._count:
            return None
        distances = np.bitwise_count(self._hashes[:self._count] ^ np.uint64(value))
        best = int(np.argmin(distances))
        return int(self._indices[best]) if distances[best] <= self.max_distance else None
