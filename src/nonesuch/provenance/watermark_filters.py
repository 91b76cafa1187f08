"""The watermark's local filters, on [H, W] arrays with scipy.ndimage's default 'reflect' borders
(numpy's 'symmetric' padding): a Gaussian blur, a box mean, and a box "all" / "any" for masks.

They give scipy's `gaussian_filter` / `uniform_filter` results to float32 round-off, in about
half the time at 256 px: scipy filters one line per inner call and computes in float64, while
here each tap is one float32 operation on whole shifted slices (a symmetric kernel needs only
one multiply per pair of taps). The embedder runs them once per image and the detector once per
read, so they are most of what a read costs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def _pad(values: np.ndarray, radius: int) -> np.ndarray:
    """np.pad(values, radius, mode="symmetric") for [H, W] arrays, with slice copies instead
    of numpy's general (and, at this size, ten times slower) implementation."""
    height, width = values.shape
    if radius == 0:
        return values
    if radius > min(height, width):
        return np.pad(values, radius, mode="symmetric")
    out = np.empty((height + 2 * radius, width + 2 * radius), values.dtype)
    out[radius:radius + height, radius:radius + width] = values
    rows = out[:, radius:radius + width]
    rows[:radius] = values[:radius][::-1]
    rows[radius + height:] = values[height - radius:][::-1]
    out[:, :radius] = out[:, radius:2 * radius][:, ::-1]
    out[:, radius + width:] = out[:, width:radius + width][:, ::-1]
    return out


@lru_cache(maxsize=8)
def _gaussian_taps(sigma: float, radius: int) -> tuple[float, ...]:
    """Normalised taps 0..radius of a Gaussian (tap k weighs offsets +k and -k)."""
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    return tuple(float(t) for t in kernel[radius:])


def _symmetric_pass(padded: np.ndarray, taps: tuple[float, ...], axis: int) -> np.ndarray:
    """Correlate `padded` along `axis` with the symmetric kernel `taps` (centre first), dropping
    the len(taps) - 1 padding cells at each end of that axis."""
    radius = len(taps) - 1
    length = padded.shape[axis] - 2 * radius

    def shifted(offset: int) -> np.ndarray:
        index = [slice(None)] * padded.ndim
        index[axis] = slice(radius + offset, radius + offset + length)
        return padded[tuple(index)]

    out = shifted(0) * np.float32(taps[0])
    for k in range(1, radius + 1):
        out += (shifted(-k) + shifted(k)) * np.float32(taps[k])
    return out


def gaussian_blur(values: np.ndarray, sigma: float, truncate: float = 3.0) -> np.ndarray:
    """[H, W] float32 -> [H, W] float32, scipy.ndimage.gaussian_filter(values, sigma,
    truncate=truncate) to float32 round-off."""
    radius = int(truncate * sigma + 0.5)
    taps = _gaussian_taps(float(sigma), radius)
    padded = _pad(values.astype(np.float32, copy=False), radius)
    return _symmetric_pass(_symmetric_pass(padded, taps, 0), taps, 1)


def _sliding(padded: np.ndarray, size: int, axis: int, combine) -> np.ndarray:
    """Combine (add, and, or) every run of `size` cells along `axis`: out[i] = combine of
    padded[i .. i + size - 1]; the axis shrinks by size - 1. Runs of 1, 2, 4, ... cells are
    built by doubling and the needed ones joined, so a size-7 box costs 4 operations, not 6."""
    length = padded.shape[axis] - size + 1

    def part(values: np.ndarray, start: int, count: int) -> np.ndarray:
        index = [slice(None)] * values.ndim
        index[axis] = slice(start, start + count)
        return values[tuple(index)]

    out, covered, run, width = None, 0, padded, 1
    while True:
        if size & width:                    # this power of two is in `size`: append a run
            piece = part(run, covered, length)
            out = piece.copy() if out is None else combine(out, piece)
            covered += width
        if width * 2 > size:
            return out
        run = combine(part(run, 0, run.shape[axis] - width), part(run, width, run.shape[axis] - width))
        width *= 2


def box_mean(values: np.ndarray, size: int) -> np.ndarray:
    """[H, W] float32 -> [H, W] float32, scipy.ndimage.uniform_filter(values, size) for odd
    sizes, to float32 round-off."""
    if size % 2 != 1:
        raise ValueError(f"box_mean needs an odd size, got {size}")
    padded = _pad(values.astype(np.float32, copy=False), size // 2)
    total = _sliding(_sliding(padded, size, 0, np.add), size, 1, np.add)
    total *= np.float32(1.0 / (size * size))
    return total


def box_all(mask: np.ndarray, size: int) -> np.ndarray:
    """[H, W] bool -> [H, W] bool: True where every pixel of the size x size box round it is
    (a binary erosion, reflect borders)."""
    padded = _pad(mask, size // 2)
    return _sliding(_sliding(padded, size, 0, np.logical_and), size, 1, np.logical_and)


def box_any(mask: np.ndarray, size: int) -> np.ndarray:
    """[H, W] bool -> [H, W] bool: True where any pixel of the size x size box round it is
    (a binary dilation, reflect borders)."""
    padded = _pad(mask, size // 2)
    return _sliding(_sliding(padded, size, 0, np.logical_or), size, 1, np.logical_or)
