"""FID and KID from Inception features.

FID (Heusel et al. 2017): the Fréchet distance between Gaussians fitted to the two feature sets,
    |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2).
The trace of the matrix square root is computed from eigenvalues instead of scipy's sqrtm:
with A = S1^1/2 (symmetric), S1 S2 is similar to A S2 A, which is symmetric PSD, so
tr((S1 S2)^1/2) = sum sqrt(eig(A S2 A)). Two symmetric eigendecompositions are faster than a
general Schur-based sqrtm and never return complex noise.

KID (Binkowski et al. 2018): the unbiased MMD^2 with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over random subsets. Unlike FID it is unbiased for small
samples, which is why it is the useful number for the few hundred images a CPU run can afford.
"""

from __future__ import annotations

import numpy as np


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """features [N, D] -> mean [D], covariance [D, D] (float64, N - 1 normalisation)."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def fid(real_features: np.ndarray, fake_features: np.ndarray) -> float:
    return frechet_distance(*feature_statistics(real_features), *feature_statistics(fake_features))


def kid_subsets(real_features: np.ndarray, fake_features: np.ndarray, subsets: int = 100,
                subset_size: int = 1000, seed: int = 0) -> np.ndarray:
    """[subsets] unbiased MMD^2, one per random subset of m = min(subset_size, N_real, N_fake) per
    side, drawn without replacement (stylegan2-ada's kernel_inception_distance.py, clean-fid).
    Their mean is KID; their spread says how much of a difference between two KIDs is noise."""
    real = np.asarray(real_features, np.float64)
    fake = np.asarray(fake_features, np.float64)
    d = real.shape[1]
    m = min(len(real), len(fake), subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 2 images per side, got {len(real)} real and {len(fake)} generated")
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for s in range(subsets):
        x = fake[rng.choice(len(fake), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values[s] = within - 2 * kxy.mean()
    return values


def kid(real_features: np.ndarray, fake_features: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> float:
    """Mean unbiased MMD^2 over `subsets` random subsets of min(subset_size, N) per side."""
    return float(kid_subsets(real_features, fake_features, subsets, subset_size, seed).mean())
