"""The handling a shared image meets, as the watermark's robustness suite (issue 4, layer 1).

Each attack maps an [H, W, 3] uint8 RGB image to another (a crop changes the size) and takes a
numpy Generator for the random parts, so a benchmark run is reproducible.
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image

Attack = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Pillow's JPEG at this quality with its default chroma subsampling (4:2:0)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def jpeg_luma(luma: np.ndarray, quality: int) -> np.ndarray:
    """[H, W] float32 luma -> the luma a JPEG at this quality gives back, [H, W] float32.

    JPEG codes a colour image's Y plane exactly as a greyscale image (same quantisation table,
    same DCT; chroma is coded apart), so this is what `jpeg` does to the luma where the
    watermark lives, at a third of the cost; decoded colours clip slightly differently."""
    buffer = io.BytesIO()
    grey = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    Image.fromarray(grey, mode="L").save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())), dtype=np.float32)


def resize_half_and_back(image: np.ndarray) -> np.ndarray:
    """Down to half size and up again (bicubic, Pillow's default, antialiased on the way down)."""
    height, width = image.shape[:2]
    small = Image.fromarray(image).resize((width // 2, height // 2), Image.BICUBIC)
    return np.asarray(small.resize((width, height), Image.BICUBIC))


def random_crop(image: np.ndarray, rng: np.random.Generator,
                max_fraction: float = 0.1) -> np.ndarray:
    """Cut 0..max_fraction of the size off each side independently; no rescaling."""
    height, width = image.shape[:2]
    top, bottom = rng.integers(0, int(max_fraction * height) + 1, size=2)
    left, right = rng.integers(0, int(max_fraction * width) + 1, size=2)
    return image[top:height - bottom, left:width - right]


def thumbnail(image: np.ndarray, factor: float) -> np.ndarray:
    """Resized by `factor` and left that size (a platform's preview), bicubic, antialiased."""
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))


def rotate(image: np.ndarray, degrees: float, crop: bool = False) -> np.ndarray:
    """Turned `degrees` anticlockwise about the centre, same size, the corners filled white (a
    re-poster's straightening); with `crop`, cut to the largest centred square that holds no
    fill (what an editor's "crop to fit" keeps: 84 % of the side at 5 degrees)."""
    import math
    turned = np.asarray(Image.fromarray(image).rotate(degrees, Image.BICUBIC,
                                                      fillcolor=(255, 255, 255)))
    if not crop:
        return turned
    height, width = image.shape[:2]
    angle = math.radians(abs(degrees))
    side = int(min(height, width) / (math.cos(angle) + math.sin(angle)))
    top, left = (height - side) // 2, (width - side) // 2
    return turned[top:top + side, left:left + side]


def brightness(image: np.ndarray, offset: int) -> np.ndarray:
    return np.clip(image.astype(np.int16) + offset, 0, 255).astype(np.uint8)


def gaussian_noise(image: np.ndarray, rng: np.random.Generator, sigma: float = 5.0) -> np.ndarray:
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def copy_mark(marked: np.ndarray, other: np.ndarray, strength: float = 1.0, tile: int = 64) -> np.ndarray:
    """The copy attack (Kutter, Voloshynovskiy and Herrigel, 2000) on a tiled mark: estimate the
    mark as `marked`'s luma minus its 5 x 5 median, fold that residual into one `tile`-periodic
    tile (the content averages away, the mark adds up), and add the tile, repeated and times
    `strength` (a forger turns it up until the mark reads), to every channel of `other` (any size). Needs nothing but one marked image; what `verify` must not
    mistake for the image the mark was lifted from (content.py)."""
    from PIL import ImageFilter

    luma = Image.fromarray(marked).convert("L")
    residual = np.asarray(luma, np.float32) - np.asarray(luma.filter(ImageFilter.MedianFilter(5)), np.float32)
    rows, cols = residual.shape[0] // tile * tile, residual.shape[1] // tile * tile
    folded = residual[:rows, :cols].reshape(rows // tile, tile, cols // tile, tile).mean(axis=(0, 2))
    height, width = other.shape[:2]
    pattern = np.tile(folded, (-(-height // tile), -(-width // tile)))[:height, :width]
    room = 12.0                     # the picture's range squeezed a little, so white does not clip the mark
    squeezed = room + other.astype(np.float32) * (255.0 - 2 * room) / 255.0
    return np.clip(np.rint(squeezed + strength * pattern[..., None]), 0, 255).astype(np.uint8)


def with_grey_shape_of(target: np.ndarray, picture: np.ndarray, cells: int = 48) -> np.ndarray:
    """The attack past a grey thumbnail (helper-19): `picture` (square) with the mean grey of each
    of cells x cells blocks moved to `target`'s, its colours and finer detail kept. A grey 48 x 48
    thumbnail sees `target`; a person sees the picture with a ghost of the target's outline.
    Returned at `target`'s size, ready for copy_mark."""
    def grey(pixels):
        return np.asarray(Image.fromarray(pixels).convert("L").resize((cells, cells), Image.BOX), np.float32)
    size = picture.shape[0] // cells * cells
    result = picture[:size, :size].astype(np.float32)
    want = grey(target)
    for _ in range(6):                        # again where clipping took some of the correction
        have = grey(np.rint(result).astype(np.uint8))
        result = np.clip(result + np.kron(want - have, np.ones((size // cells, size // cells)))[..., None], 0, 255)
    return np.asarray(Image.fromarray(np.rint(result).astype(np.uint8)).resize(target.shape[1::-1], Image.BOX))


ATTACKS: dict[str, Attack] = {
    "none": lambda image, rng: image,
    "jpeg50": lambda image, rng: jpeg(image, 50),
    "resize0.5": lambda image, rng: resize_half_and_back(image),
    "crop10%": random_crop,
    "bright+20": lambda image, rng: brightness(image, 20),
    "bright-20": lambda image, rng: brightness(image, -20),
    "noise5": gaussian_noise,
    "resize0.5+jpeg75": lambda image, rng: jpeg(resize_half_and_back(image), 75),
    # Not in the table, but what `verify` must survive: a platform's re-encode.
    "jpeg75": lambda image, rng: jpeg(image, 75),
    # Issue 13: what platforms and re-posters make. `detect` finds these by its search
    # (WatermarkConfig.mirror, rotations, restore_sizes).
    "jpeg30": lambda image, rng: jpeg(image, 30),
    "mirror": lambda image, rng: np.ascontiguousarray(image[:, ::-1]),
    "rotate+5": lambda image, rng: rotate(image, 5.0),
    "rotate-5": lambda image, rng: rotate(image, -5.0),
    "rotate+5crop": lambda image, rng: rotate(image, 5.0, crop=True),
    "rotate-5crop": lambda image, rng: rotate(image, -5.0, crop=True),
    "thumb0.5": lambda image, rng: thumbnail(image, 0.5),
    "thumb0.3": lambda image, rng: thumbnail(image, 0.3),
}

# The attacks above that can be applied to the luma alone ([H, W] float32), for the embedder's
# closed loop, which only reads the luma back.
LUMA_ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "jpeg50": lambda luma: jpeg_luma(luma, 50),
    "jpeg75": lambda luma: jpeg_luma(luma, 75),
    "jpeg30": lambda luma: jpeg_luma(luma, 30),
}
