"""Seeds as people write them, and pixels at the size people asked for. Latents, truncation and
the generator's own pixels are the gan stage's (gan/sampling.py, Generator.sample); this module
stays free of torch because the finish workers import it for resize_lanczos."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from nonesuch.bounds import check_range

if TYPE_CHECKING:
    import torch

# A seed is stored as SQLite INTEGER (signed 64-bit) in the registry and seeds a torch generator.
MAX_SEED = 2 ** 63 - 1
# Seeds one command may ask for: 10^12 is centuries of generating, and keeps every count a
# machine-size int (len() of 2**63 seeds would overflow).
MAX_COUNT = 10 ** 12
# Output side in px. A batch of 32 finished images at 2048 px is 400 MB of pixels, twice over
# while the next batch is made; past that a typo (--size 20000: 1.2 GB an image) exhausts memory
# before the first file is written. Native resolutions are 32-256 px.
MAX_SIZE = 2048
# Every generated image carries the watermark, which cannot be read below this side.
MIN_WATERMARKED_SIZE = 64
# Finished pixels a command may hold at once: a walk keeps every frame until it writes the file
# (twice over while it stacks them), a live pool keeps its stock. 1 GiB is 5,461 frames at 256 px,
# almost 4 minutes at 24 fps; a typo (`--frames 1000000`) asked for a TiB.
MAX_HELD_BYTES = 2 ** 30


class Seeds(Sequence):
    """Seeds kept as ranges, never as a list: `--count 1000000000` is a few bytes, not 8 GB.
    Iterates, slices (step 1) and measures like the list it stands for."""

    def __init__(self, ranges: list[range]):
        self.ranges = [r for r in ranges if len(r)]

    @classmethod
    def first(cls, count: int) -> "Seeds":
        """Seeds 0..count-1."""
        if not 0 <= count <= MAX_COUNT:
            raise ValueError(f"--count must be from 0 to {MAX_COUNT}, got {count}")
        return cls([range(count)])

    def __len__(self) -> int:
        return sum(len(r) for r in self.ranges)

    def __iter__(self) -> Iterator[int]:
        return itertools.chain.from_iterable(self.ranges)

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("seed slices take every seed")
            taken, offset = [], 0
            for r in self.ranges:       # the part of each range inside [start, stop)
                lo, hi = max(start - offset, 0), min(stop - offset, len(r))
                if lo < hi:
                    taken.append(r[lo:hi])
                offset += len(r)
            return Seeds(taken)
        if index < 0:
            index += len(self)
        for r in self.ranges:
            if index < len(r):
                return r[index]
            index -= len(r)
        raise IndexError("seed index out of range")

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __str__(self) -> str:
        """'0-2,5', as --seeds takes it."""
        return ",".join(str(r.start) if len(r) == 1 else f"{r.start}-{r[-1]}" for r in self.ranges)

    __repr__ = __str__


def parse_seeds(text: str) -> Seeds:
    """'0-9' -> 0..9; '3,5,10-12' -> 3, 5, 10, 11, 12. Seeds are ints from 0 to MAX_SEED."""
    ranges: list[range] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):   # '5-' is no range
            raise ValueError(f"bad seed range {part!r}: use A-B or a list like 1,2,5-9")
        lo, hi = int(first), int(last or first)
        if hi < lo:
            raise ValueError(f"bad seed range {part!r}: {hi} < {lo}")
        if hi > MAX_SEED:
            raise ValueError(f"seed {hi} is out of range: seeds go from 0 to 2**63-1 ({MAX_SEED})")
        ranges.append(range(lo, hi + 1))
        if sum(r.stop - r.start for r in ranges) > MAX_COUNT:
            raise ValueError(f"more than {MAX_COUNT} seeds in {text[:60]!r}; ask for fewer")
    return Seeds(ranges)


def check_size(size: int, watermarked: bool = False) -> None:
    """Output side in px from 1 (a watermarked image's from MIN_WATERMARKED_SIZE) to MAX_SIZE;
    ValueError otherwise."""
    low, unit = ((MIN_WATERMARKED_SIZE, f" px (the watermark cannot be read below {MIN_WATERMARKED_SIZE} px)")
                 if watermarked else (1, " px"))
    check_range("--size", size, low, MAX_SIZE, unit)


def check_held_pixels(option: str, value: int, images: int, size: int) -> None:
    """`images` finished images of `size` px, all held in memory at once (a walk's frames, a live
    pool's stock), fit in MAX_HELD_BYTES; ValueError naming `option` (given as `value`) otherwise."""
    held = images * size * size * 3
    if held > MAX_HELD_BYTES:
        raise ValueError(f"{option} {value}: {images:,} images of {size} px would hold {held / 2 ** 30:,.1f} GiB "
                         f"of pixels at once, over {MAX_HELD_BYTES // 2 ** 30} GiB; ask for fewer or a smaller --size")


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
