"""FID/KID: the formula against an independent implementation (the real network end to end is in
test_gan_smoke.py)."""

import numpy as np
import pytest
import scipy.linalg

from nonesuch.metrics.distances import feature_statistics, fid, frechet_distance, kid


def reference_fid(real, fake):
    """The textbook formula with scipy's general matrix square root (pytorch-fid's way)."""
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_matches_scipy_sqrtm_reference():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(64, 64))
    real = rng.normal(size=(500, 64)) @ mixing
    fake = rng.normal(size=(400, 64)) @ (mixing + 0.3 * rng.normal(size=(64, 64))) + 0.5
    assert fid(real, fake) == pytest.approx(reference_fid(real, fake), rel=1e-6)


def test_identical_distributions_score_about_zero():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2000, 32))
    mu, sigma = feature_statistics(features)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8
    other = rng.normal(size=(2000, 32))  # another sample of the same distribution
    assert fid(features, other) < 0.5 < fid(features, other + 1.0)
    assert abs(kid(features, other, subsets=10, subset_size=500)) < 0.01 < kid(features, other + 1.0, subsets=10)
