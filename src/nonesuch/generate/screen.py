"""The screen: a seed whose image lies far from every training image is drawn again.

A GAN trained on a few hundred images renders its common shapes well and its rare ones (on the
smileys: cat faces, hands, costumes) as melted blotches, and those blotches are what a person
remembers. Where a sample lies relative to the training images says which is which: in
EfficientNet-Lite0's feature space (the network curate embeds with), the distance from a sample
to its nearest training image separates the samples a person counts as clean from the blotches
with ROC AUC 0.95 (smileys64, seeds 0-63, judged by eye before this screen existed); Inception's
features did 0.93 at 20x the cost, and the discriminator's score did worse than chance (0.32).
This is the realism idea of Kynkaenniemi et al. 2019 (rank samples by their distance to the real
manifold) used the way rejection sampling uses a discriminator (Azadi et al. 2019).

How a seed is drawn: attempt 0 is the seed's own latent, so a sample that passes is the same
image as without the screen (and keeps its watermark ID). If it lies farther than `threshold`
from every training image, attempt 1 draws a latent from (seed, 1), and so on up to
`max_attempts`; if none passes, the closest attempt is kept. The threshold is a percentile of
the training images' own distances to their nearest other training image: "as close to some
training image as training images are to each other". Everything depends only on the seed, the
weights and the screen file, so a seed gives the same image every time; the attempt goes into
the generation record and the watermark ID.

What it costs: the rare shapes are drawn less often (recall falls; README "The shipped
generator" has the figures), and each attempt costs a Lite0 pass (~2 ms an image) on top of
the generator. It is a screen, not a filter on memorisation: it never prefers the closest
sample, only refuses far ones.

An exported generator carries its screen as `screen.npz` (the training images' features and the
threshold, built by `write_screen`); `nonesuch generate` uses it unless told `--no-screen`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nonesuch import atomic
from nonesuch.gan.sampling import latents_for_seeds

SCREEN_FILE = "screen.npz"
FEATURES = 1280              # Lite0's pooled features
MAX_ATTEMPTS_LIMIT = 32      # a screen file may not ask for more draws per seed than this


@dataclass(frozen=True)
class ScreenConfig:
    # Chosen by eye on smileys64 (README "The shipped generator"): at the 60th percentile only
    # frowning and neutral faces pass; at the 75th every heart is refused too; at the 80th
    # hearts pass and 56 of seeds 0-63 (59 of 64-127) are clean; at the 85th hands creep back.
    percentile: float = 80.0
    max_attempts: int = 8        # a seed that fails 8 times keeps its closest attempt


def attempt_seed(seed: int, attempt: int) -> int:
    """The latent seed of a seed's attempt: the seed itself first, then one derived from both."""
    if attempt == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(attempt)]).generate_state(1, np.uint64)[0] >> 1)


class Screen:
    """reference: [M, 1280] Lite0 features of the training images; threshold: the distance a
    sample's nearest training image may be at most."""

    def __init__(self, reference: np.ndarray, threshold: float, max_attempts: int = ScreenConfig.max_attempts):
        from nonesuch.curate.embed import PixelEmbedder

        self.reference = torch.from_numpy(np.asarray(reference, np.float32))
        self.threshold = float(threshold)
        self.max_attempts = int(max_attempts)
        self.embedder = PixelEmbedder()

    def distances(self, pixels: np.ndarray) -> np.ndarray:
        """[N, R, R, 3] uint8 -> [N] distance to the nearest training image."""
        features = torch.from_numpy(self.embedder.features(pixels))
        return torch.cdist(features, self.reference).min(dim=1).values.numpy()

    def draw(self, sample, seeds: list[int], latent_dim: int) -> tuple[np.ndarray, list[int], np.ndarray]:
        """sample(z [n, D], rows) -> [n, R, R, 3] uint8 for those seeds (rows: their positions
        in `seeds`, for per-seed labels). Returns (pixels [N, R, R, 3], attempt per seed,
        distance per seed)."""
        pixels, attempts, distances = None, [0] * len(seeds), np.full(len(seeds), np.inf)
        pending = list(range(len(seeds)))
        for attempt in range(self.max_attempts):
            if not pending:
                break
            z = latents_for_seeds([attempt_seed(seeds[i], attempt) for i in pending], latent_dim)
            candidates = sample(z, pending)
            found = self.distances(candidates)
            if pixels is None:
                pixels = np.empty((len(seeds),) + candidates.shape[1:], np.uint8)
            still = []
            for row, i in enumerate(pending):
                if found[row] < distances[i]:        # keep the closest attempt so far
                    pixels[i], attempts[i], distances[i] = candidates[row], attempt, found[row]
                if found[row] > self.threshold:
                    still.append(i)
            pending = still
        return pixels, attempts, distances

    def close(self) -> None:
        self.embedder.close()


def write_screen(folder: str | Path, training_pixels: np.ndarray, config: ScreenConfig = ScreenConfig()) -> float:
    """Build a generator folder's screen from its training images ([M, R, R, 3] uint8 at the
    generator's resolution); returns the threshold."""
    from nonesuch.curate.embed import PixelEmbedder

    embedder = PixelEmbedder()
    try:
        # Stored as float16 (171 images: 0.4 MB); the threshold is measured on what is stored.
        reference = embedder.features(np.asarray(training_pixels)).astype(np.float16).astype(np.float32)
    finally:
        embedder.close()
    if len(reference) < 2:
        raise ValueError("a screen needs at least 2 training images")
    between = torch.cdist(torch.from_numpy(reference), torch.from_numpy(reference))
    between.fill_diagonal_(float("inf"))
    threshold = float(np.percentile(between.min(dim=1).values.numpy(), config.percentile))
    path = Path(folder) / SCREEN_FILE
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, reference=reference.astype(np.float16), threshold=np.float32(threshold),
                     percentile=np.float32(config.percentile), max_attempts=np.int32(config.max_attempts))
    return threshold


def load_screen(folder: str | Path) -> Screen | None:
    """The generator folder's screen, or None if it has none. A file that is not a screen (or
    one asking for an unbounded search) is a one-line GenerateError naming it."""
    from nonesuch.generate.errors import GenerateError

    path = Path(folder) / SCREEN_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            reference = np.asarray(saved["reference"], np.float32)
            threshold, max_attempts = float(saved["threshold"]), int(saved["max_attempts"])
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise GenerateError(f"{path}: not a screen file ({error})", option="screen") from None
    if reference.ndim != 2 or reference.shape[0] < 1 or reference.shape[1] != FEATURES \
            or not np.isfinite(reference).all() or not np.isfinite(threshold) or threshold < 0 \
            or not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise GenerateError(f"{path}: not a usable screen (reference {reference.shape}, threshold "
                            f"{threshold}, max_attempts {max_attempts}: want [M, {FEATURES}] finite "
                            f"features, a threshold >= 0 and 1-{MAX_ATTEMPTS_LIMIT} attempts)", option="screen")
    return Screen(reference, threshold, max_attempts)
