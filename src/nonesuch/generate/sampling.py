"""Seeds as people write them, and pixels at the size people asked for. Latents, truncation and
the generator's own pixels are the gan stage's (gan/sampling.py, Generator.sample); this module
stays free of torch because the finish workers import it for resize_lanczos."""

from __future__ import annotations

import numpy as np


def parse_seeds(text: str) -> list[int]:
    """'0-9' -> [0..9]; '3,5,10-12' -> [3, 5, 10, 11, 12]. Seeds are non-negative ints."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError(f"bad seed range {part!r}: use A-B or a list like 1,2,5-9")
        lo, hi = int(first), int(last or first)
        if hi < lo:
            raise ValueError(f"bad seed range {part!r}: {hi} < {lo}")
        seeds.extend(range(lo, hi + 1))
    return seeds


def resize_lanczos(pixels: np.ndarray, size: int) -> np.ndarray:
    """[N, R, R, 3] uint8 -> [N, size, size, 3] uint8. Native size passes through untouched;
    enlarging by a whole factor repeats pixels (a 64 px emoji at 256 px stays crisp: Lanczos made
    it soft and ringing, and the site shows it pixel for pixel); anything else is Pillow's Lanczos
    (antialiased when shrinking)."""
    from PIL import Image

    native = pixels.shape[1]
    if native == size and pixels.shape[2] == size:
        return pixels
    if size > native and size % native == 0:
        factor = size // native
        return pixels.repeat(factor, axis=1).repeat(factor, axis=2)
    return np.stack([np.asarray(Image.fromarray(p).resize((size, size), Image.LANCZOS))
                     for p in pixels])
