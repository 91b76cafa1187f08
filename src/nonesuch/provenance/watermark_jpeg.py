"""Make the watermark survive JPEG: build it from whole JPEG quantisation steps.

JPEG rounds each 8x8 DCT coefficient of luma to a multiple of its quantisation step. A faint
spread-spectrum mark on a flat area (an emoji's fill, a white background) gives coefficients
well under half a step, which all round to zero: the mark vanishes at quality 50. But rounding
commutes with adding a whole step, round((h + k*q) / q) = round(h / q) + k, whatever the host
coefficient h. So we re-express the mark as a sparse set of coefficients of exactly +-1 step of
the quality-50 table, on the 8x8 grid of the image: JPEG at quality 50 then keeps them all, and
any better quality (finer steps) keeps them nearly whole. We pick the coefficients where the
mark is strongest relative to the step, with the mark's sign, until a share of the energy budget
is spent, so the sparse mark still correlates with the key pattern the detector looks for; the
rest of the budget stays dense spread spectrum, which serves best when there is no JPEG.

Clipping undoes that on a white background (or black): 255 + mark keeps only the mark's dips,
and the DCT of what is left holds about half of each whole step. Quality 50 then rounds half of
them away, and quality 30 (steps 5/3 as large) all of them: on line art on white, JPEG q30 traced
14 of 40 marks. Where the host clips, the shortfall is added back to the whole-step coefficients
a few times over (`_held_through_clipping`), so that what survives the clipping holds the whole
steps: q30 rounds 0.6 of its step up to a whole one, and traced 38 of 40 at the same PSNR.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

BLOCK = 8
# The JPEG standard's luminance table (Annex K); libjpeg and Pillow use it as is at quality 50.
LUMA_STEPS_Q50 = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99]], np.float32)


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    """[8, 8] orthonormal DCT-II: JPEG's forward DCT applies it to rows and columns."""
    n = np.arange(BLOCK)
    matrix = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * BLOCK)) * np.sqrt(2 / BLOCK)
    matrix[0] /= np.sqrt(2)
    return matrix.astype(np.float32)


def _usable_steps(max_step: float) -> np.ndarray:
    """[8, 8] step per coefficient, 0 where we do not write: DC (a flat shift the detector's
    high-pass ignores anyway) and steps above max_step (too costly, and the first to go when
    the image is shrunk)."""
    steps = np.where(LUMA_STEPS_Q50 <= max_step, LUMA_STEPS_Q50, 0.0)
    steps[0, 0] = 0.0
    return steps


def to_blocks(values: np.ndarray) -> np.ndarray:
    """[H, W] (multiples of 8) -> [H/8, W/8, 8, 8] DCT coefficients."""
    height, width = values.shape
    dct = _dct_matrix()
    # One large matrix product per axis instead of H*W/64 tiny ones.
    columns = np.tensordot(dct, values.reshape(height // BLOCK, BLOCK, width), axes=([1], [1]))
    coefficients = columns.reshape(BLOCK, height // BLOCK, width // BLOCK, BLOCK) @ dct.T
    return coefficients.transpose(1, 2, 0, 3)                  # [h, w, u, v]


def from_blocks(coefficients: np.ndarray) -> np.ndarray:
    """Inverse of `to_blocks`."""
    rows, cols = coefficients.shape[:2]
    dct = _dct_matrix()
    horizontal = coefficients @ dct                            # [h, w, u, x]
    blocks = np.tensordot(dct.T, horizontal, axes=([1], [2]))  # [y, h, w, x]
    return blocks.transpose(1, 0, 2, 3).reshape(rows * BLOCK, cols * BLOCK)


def quantised_mark(delta: np.ndarray, energy: float, step_share: float,
                   max_step: float = 16.0, host: np.ndarray | None = None) -> np.ndarray:
    """A mark close in direction to `delta`, part of it in whole JPEG quality-50 steps.

    delta: [H, W] float32, the spread-spectrum mark (only its shape matters, not its scale).
    energy: the sum of squares the result has (grey levels^2, the PSNR budget).
    step_share: the part of `energy` spent on coefficients of exactly +-1 step, chosen where
      |delta| is largest relative to the step (most correlation bought per unit of energy);
      these survive JPEG q50 whole. The rest of the budget goes to the other coefficients,
      in proportion to delta, which is more efficient when there is no JPEG.
    host: [H, W] float32 luma the mark will be added to, or None. Given, the whole steps are
      made to hold after host + mark clips to [0, 255] (`_held_through_clipping`); clipped
      areas then cost about twice the energy, which the caller's budget must allow for.
    Returns [H, W] float32.
    """
    height, width = delta.shape
    padded = delta
    if height % BLOCK or width % BLOCK:
        padded = np.zeros((-(-height // BLOCK) * BLOCK, -(-width // BLOCK) * BLOCK), np.float32)
        padded[:height, :width] = delta
    coefficients = to_blocks(padded)                              # [h, w, 8, 8]
    rest = np.ascontiguousarray(coefficients).reshape(-1, BLOCK * BLOCK)  # [B, 64], a copy
    steps = _usable_steps(max_step).ravel()
    usable = np.flatnonzero(steps)                                 # [U] coefficient indices
    candidates = rest[:, usable]                                   # [B, U]
    step = steps[usable]                                           # [U]
    kept = _best_first(np.abs(candidates) / step, step * step, step_share * energy)  # [B, U]
    whole_steps = np.where(kept, np.sign(candidates) * step, 0.0).astype(np.float32)
    candidates[kept] = 0.0
    rest[:, usable] = candidates
    rest_energy = max(energy - float(np.sum(whole_steps * whole_steps)), 0.0)
    rest *= np.float32(np.sqrt(rest_energy / max(float(np.sum(rest * rest)), 1e-12)))
    rest[:, usable] += whole_steps
    if host is None:
        mark = from_blocks(rest.reshape(coefficients.shape))
    else:
        target = np.zeros_like(rest)
        target[:, usable] = whole_steps
        rows, cols = coefficients.shape[:2]
        shape = (-1, BLOCK, BLOCK)
        pixels = _held_through_clipping(_pixels_of(rest.reshape(shape)),
                                        _pixel_blocks(host, padded.shape),
                                        target.reshape(shape), target.reshape(shape) != 0.0)
        mark = pixels.reshape(rows, cols, BLOCK, BLOCK).transpose(0, 2, 1, 3).reshape(
            rows * BLOCK, cols * BLOCK)
    return mark[:height, :width]


CLIP_ROUNDS = 4   # each round leaves about half the shortfall of the one before: 6 % of a step


# Block-wise DCT of a stack [N, 8, 8] as two small products per block (numpy's stacked matmul,
# single-threaded: as one [N, 64] x [64, 64] BLAS product it was 40x slower in CPU time on a
# loaded machine, where BLAS's threads spin waiting for cores).
def _coefficients_of(pixels: np.ndarray) -> np.ndarray:
    dct = _dct_matrix()
    return dct @ pixels @ dct.T


def _pixels_of(coefficients: np.ndarray) -> np.ndarray:
    dct = _dct_matrix()
    return dct.T @ coefficients @ dct


def _pixel_blocks(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """[H, W] -> [B, 8, 8], the 8 x 8 blocks in raster order; the image padded to `shape`
    (multiples of 8) with mid-grey, which clips nowhere."""
    if values.shape != shape:
        grown = np.full(shape, 128.0, np.float32)
        grown[:values.shape[0], :values.shape[1]] = values
        values = grown
    rows, cols = shape[0] // BLOCK, shape[1] // BLOCK
    return values.reshape(rows, BLOCK, cols, BLOCK).transpose(0, 2, 1, 3).reshape(-1, BLOCK, BLOCK)


def _held_through_clipping(pixels: np.ndarray, host: np.ndarray, target: np.ndarray,
                           kept: np.ndarray) -> np.ndarray:
    """The mark's blocks `pixels` [B, 8, 8] changed so that what host [B, 8, 8] + mark keeps
    after clipping to [0, 255] has the DCT coefficients `target` [B, 8, 8] wherever `kept`
    [B, 8, 8] is True.

    Only the blocks that clip are touched: each round clips them, measures the kept
    coefficients' shortfall and adds it to the mark. A white block's dips then carry the whole
    step alone, at about twice its energy; every other coefficient is left as clipping makes it."""
    marked = host + pixels
    clipping = np.flatnonzero(((marked > 255.0) | (marked < 0.0)).any(axis=(1, 2))
                              & kept.any(axis=(1, 2)))
    if clipping.size == 0:
        return pixels
    mark, base, want, where = pixels[clipping], host[clipping], target[clipping], kept[clipping]
    for _ in range(CLIP_ROUNDS):
        left = np.clip(base + mark, 0.0, 255.0) - base
        shortfall = np.where(where, want - _coefficients_of(left), np.float32(0.0))
        mark += _pixels_of(shortfall)
    pixels = pixels.copy()
    pixels[clipping] = mark
    return pixels


def _best_first(merit: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    """[B, U] bool: the coefficients of highest merit whose costs ([U], one per column) add up
    to at most `budget`, taken best first.

    Each whole-step coefficient costs step^2 and buys |c| / step of correlation per unit of
    energy. Only the `budget / min(cost)` best can fit, usually a tenth of them: partition
    those out first, so the full sort is of a few thousand, not all."""
    flat = merit.ravel()
    costs = np.broadcast_to(cost, merit.shape).ravel()
    fit = min(flat.size, int(budget / float(cost.min())) + 1)
    best = np.argpartition(flat, flat.size - fit)[flat.size - fit:] if fit < flat.size \
        else np.arange(flat.size)
    order = best[np.argsort(flat[best])[::-1]]
    kept = np.zeros(flat.size, bool)
    kept[order[:np.searchsorted(np.cumsum(costs[order]), budget, side="right")]] = True
    return kept.reshape(merit.shape)
