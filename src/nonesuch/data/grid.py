"""Contact sheets: many small images in one PNG a person can look at."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 2,
               background: int = 255) -> Image.Image:
    """images: [N, H, W, 3] uint8. Returns one RGB image, rows of `columns` (default ~square)."""
    n, h, w, _ = images.shape
    if n == 0:
        return Image.new("RGB", (w or 1, h or 1), (background,) * 3)
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    sheet = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), background, np.uint8)
    for i in range(n):
        y, x = divmod(i, columns)
        top, left = pad + y * (h + pad), pad + x * (w + pad)
        sheet[top:top + h, left:left + w] = images[i]
    return Image.fromarray(sheet)


def upscale_for_viewing(image: Image.Image, min_side: int = 512) -> Image.Image:
    """Nearest-neighbour enlarge tiny grids so 16 px images are visible, pixels kept sharp."""
    factor = max(1, math.ceil(min_side / max(1, min(image.size))))
    return image if factor == 1 else image.resize((image.width * factor, image.height * factor), Image.NEAREST)
