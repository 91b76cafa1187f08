"""The watermark's secret key: a tile of +-1 spread-spectrum chips, split into a sync part and a
payload part, and the operations on it that embedding and detection need.

A tile is `tile` x `tile` pixels holding a lattice of chips every `chip_spacing` pixels (32 x 32
= 1024 chips for the defaults). Each chip is a small Gaussian bump of random sign, so the
pattern's energy sits mostly below 0.25 cycles/pixel: it survives halving the image size and
JPEG's coarse high-frequency quantisation. A fifth of the chips, chosen by the key, form the sync
pattern (their key sign, always); the rest are dealt round-robin to the coded payload bits
(their key sign times the bit's symbol, +-1). The tile repeats over the whole image, so a crop
only shifts it cyclically, and the detector finds that shift by FFT correlation with the sync.

The chip signs are independent fair coins given the seed: this is what the false-positive bound
in `watermark.py` rests on (Hoeffding's inequality for Rademacher sums).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from nonesuch.provenance.watermark_code import CODED_BITS


@dataclass(frozen=True)
class KeyPattern:
    """Everything derived from the key, for one tile geometry (all cyclic, tile x tile)."""
    tile: int
    positions: np.ndarray      # [C, 2] int64: (row, col) of each chip in the tile
    signs: np.ndarray          # [C] float32 in {-1, +1}: the key
    bit_of_chip: np.ndarray    # [C] int64: coded bit carried by each chip, -1 for sync chips
    bump_fft: np.ndarray       # [tile, tile//2+1] complex64: rfft2 of the chip bump (centred at 0)
    sync_template_fft: np.ndarray  # rfft2 of the sync chips' impulses * signs, [tile, tile//2+1]
    sync_indicator_fft: np.ndarray  # rfft2 of the sync chips' impulses (unsigned)
    # [2, tile, tile//2+1]: conj(bump_fft) and conj(bump_fft * sync_template_fft), what a
    # folded spectrum is multiplied by to correlate it with one chip, and with the sync
    chip_and_sync_conj: np.ndarray

    @property
    def sync_chips(self) -> int:
        """How many chips carry the sync (the rest carry the payload)."""
        return int(np.sum(self.bit_of_chip < 0))

    def tile_pattern(self, coded_bits: np.ndarray) -> np.ndarray:
        """[tile, tile] float32, the pattern to embed for these [CODED_BITS] bits; RMS 1."""
        symbols = np.where(self.bit_of_chip < 0, 1.0,
                           2.0 * coded_bits[np.maximum(self.bit_of_chip, 0)] - 1.0)
        impulses = _impulses(self.tile, self.positions, self.signs * symbols)
        pattern = np.fft.irfft2(np.fft.rfft2(impulses) * self.bump_fft, s=impulses.shape)
        return (pattern / pattern.std()).astype(np.float32)


def _impulses(tile: int, positions: np.ndarray, chip_values: np.ndarray) -> np.ndarray:
    """[tile, tile] float32 with chip_values at the chip positions, 0 elsewhere."""
    grid = np.zeros((tile, tile), np.float32)
    grid[positions[:, 0], positions[:, 1]] = chip_values
    return grid


@lru_cache(maxsize=8)
def key_pattern(seed: int, tile: int, chip_spacing: int, chip_sigma: float,
                sync_fraction: float) -> KeyPattern:
    """Derive the key for one geometry; cached, so every call after the first is free."""
    rng = np.random.default_rng(seed)
    lattice = np.arange(0, tile, chip_spacing)
    rows, cols = np.meshgrid(lattice, lattice, indexing="ij")
    positions = np.stack([rows.ravel(), cols.ravel()], axis=1)
    chips = len(positions)
    signs = rng.choice(np.array([-1.0, 1.0], np.float32), size=chips)
    order = rng.permutation(chips)
    # Every coded bit gets the same number of chips; the chips left over join the sync.
    payload_chips = int(chips * (1 - sync_fraction)) // CODED_BITS * CODED_BITS
    if payload_chips == 0:
        raise ValueError(f"a {tile} px tile with {chips} chips cannot carry {CODED_BITS} bits")
    bit_of_chip = np.full(chips, -1, np.int64)
    bit_of_chip[order[:payload_chips]] = np.arange(payload_chips) % CODED_BITS

    offsets = (np.arange(tile) + tile // 2) % tile - tile // 2   # cyclic distance from 0
    bump_1d = np.exp(-0.5 * (offsets / chip_sigma) ** 2)
    bump = np.outer(bump_1d, bump_1d).astype(np.float32)
    is_sync = (bit_of_chip < 0).astype(np.float32)
    bump_fft = np.fft.rfft2(bump).astype(np.complex64)
    sync_template_fft = np.fft.rfft2(_impulses(tile, positions, signs * is_sync))
    return KeyPattern(
        tile, positions, signs, bit_of_chip, bump_fft, sync_template_fft,
        sync_indicator_fft=np.fft.rfft2(_impulses(tile, positions, is_sync)),
        chip_and_sync_conj=np.conj(np.stack([bump_fft, bump_fft * sync_template_fft])))
