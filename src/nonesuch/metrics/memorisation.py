"""Memorisation: does the generator hand back its training images?

For each generated image, the cosine distance in Inception space to its nearest real image. The
yardstick comes from the real set itself: the 1st percentile of each real image's distance to its
nearest *other* real image. A generated image at or below it is closer to a training image than
99 % of the training images are to one another: a copy, or nearly. A GAN trained on a few hundred
images can memorise them while KID improves, so the closest pairs are also written as a picture
to look at (FastGAN ships scripts/find_nearest_neighbor.py for the same reason).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MAX_REAL_QUERIES = 5000  # real images whose nearest other real sets the threshold (all, up to this)


@dataclass(frozen=True)
class Memorisation:
    share: float                # generated images at or below the threshold / all generated
    count: int
    threshold: float            # cosine distance
    nearest_real: np.ndarray    # [N_gen] index into the real features
    distance: np.ndarray        # [N_gen] cosine distance to that real image

    def closest(self, count: int = 5) -> list[tuple[int, int, float]]:
        """(generated index, real index, distance) of the `count` closest pairs, closest first."""
        order = np.argsort(self.distance, kind="stable")[:count]
        return [(int(g), int(self.nearest_real[g]), float(self.distance[g])) for g in order]


def _unit(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, np.float64)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def nearest_cosine(queries: np.ndarray, pool: np.ndarray, exclude: np.ndarray | None = None,
                   chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """For each query, (index into pool, cosine distance) of its nearest pool point; exclude[i],
    when given, is a pool index query i may not match (itself)."""
    queries, pool = _unit(queries), _unit(pool)
    index, distance = np.empty(len(queries), np.int64), np.empty(len(queries))
    for start in range(0, len(queries), chunk):
        d = 1 - queries[start:start + chunk] @ pool.T
        if exclude is not None:
            rows = np.arange(len(d))
            d[rows, exclude[start:start + chunk]] = np.inf
        index[start:start + chunk] = d.argmin(axis=1)
        distance[start:start + chunk] = d[np.arange(len(d)), index[start:start + chunk]]
    return index, np.clip(distance, 0, None)


def memorisation(real_features: np.ndarray, fake_features: np.ndarray, percentile: float = 1.0,
                 seed: int = 0) -> Memorisation:
    if len(real_features) < 2:
        raise ValueError(f"memorisation needs at least 2 real images, got {len(real_features)}")
    queries = np.arange(len(real_features))
    if len(queries) > MAX_REAL_QUERIES:  # the percentile of a 5k sample; the search is over all reals
        queries = np.sort(np.random.default_rng([seed, 0x3E3]).choice(queries, MAX_REAL_QUERIES, replace=False))
    _, real_to_real = nearest_cosine(real_features[queries], real_features, exclude=queries)
    threshold = float(np.percentile(real_to_real, percentile))
    nearest, distance = nearest_cosine(fake_features, real_features)
    flagged = int((distance <= threshold).sum())
    return Memorisation(flagged / len(distance), flagged, threshold, nearest, distance)


def closest_pairs_sheet(generated: np.ndarray, real: np.ndarray, distances: list[float],
                        tile: int = 128) -> Image.Image:
    """One row per pair: generated | real, each enlarged to `tile` px (nearest neighbour, pixels
    kept sharp), labelled with their cosine distance. generated, real: [K, H, W, 3] uint8."""
    scale = max(1, tile // generated.shape[1])
    side, pad, label = generated.shape[1] * scale, 8, 16
    sheet = Image.new("RGB", (2 * side + 3 * pad, len(distances) * (side + label + pad) + pad + label), "white")
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    draw.text((pad, 2), "generated", fill="black", font=font)
    draw.text((2 * pad + side, 2), "nearest real", fill="black", font=font)
    for row, (fake, actual, d) in enumerate(zip(generated, real, distances)):
        top = label + pad + row * (side + label + pad)
        for column, pixels in enumerate((fake, actual)):
            image = Image.fromarray(pixels).resize((side, side), Image.NEAREST)
            sheet.paste(image, (pad + column * (side + pad), top))
        draw.text((pad, top + side + 1), f"cosine distance {d:.4f}", fill="black", font=font)
    return sheet
