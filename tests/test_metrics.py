"""FID, KID, precision/recall: the formulas against independent implementations (scipy, sklearn,
Python loops, a case computed by hand). Real Inception features: test_metrics_inception.py."""

import numpy as np
import pytest
import scipy.linalg
from sklearn.neighbors import NearestNeighbors
from typer.testing import CliRunner

from nonesuch.cli import app

from nonesuch.metrics.distances import feature_statistics, fid, frechet_distance, kid, kid_subsets
from nonesuch.metrics.manifold import precision_recall


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


# -- KID against independent computations ------------------------------------------------------

def polynomial_kernel(a, b):
    return (float(np.dot(a, b)) / len(a) + 1) ** 3


def mmd2_unbiased_loop(x, y):
    """Bińkowski et al.'s unbiased MMD^2, one pair at a time (O(n^2) Python loops)."""
    m = len(x)
    within_x = sum(polynomial_kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    within_y = sum(polynomial_kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    across = sum(polynomial_kernel(x[i], y[j]) for i in range(m) for j in range(m))
    return (within_x + within_y) / (m * (m - 1)) - 2 * across / m ** 2


def test_kid_on_a_hand_computed_case():
    # d = 1, k(a, b) = (ab + 1)^3. Generated {0, 1}: k(0, 1) = 1. Real {2, 3}: k(2, 3) = 7^3 = 343.
    # Across: k(0, 2) = k(0, 3) = 1, k(1, 2) = 27, k(1, 3) = 64, mean 93/4.
    # MMD^2 = 2*1/2 + 2*343/2 - 2 * 93/4 = 297.5.
    fake, real = np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])
    assert kid(real, fake, subsets=1) == pytest.approx(297.5)
    assert kid_subsets(real, fake, subsets=3).tolist() == pytest.approx([297.5] * 3)  # subsets of all: the same


def test_kid_matches_a_pairwise_loop():
    rng = np.random.default_rng(2)
    real, fake = rng.random((12, 6)), rng.random((12, 6)) + 0.2
    # One subset of all 12 per side: a permutation of each set, which MMD does not see.
    assert kid(real, fake, subsets=1, subset_size=12) == pytest.approx(mmd2_unbiased_loop(fake, real), rel=1e-10)
    # Smaller subsets: each value is the loop's MMD on the subset the same seeded draw picks.
    values = kid_subsets(real, fake, subsets=4, subset_size=5, seed=3)
    draw = np.random.default_rng(3)
    for value in values:
        x, y = fake[draw.choice(12, 5, replace=False)], real[draw.choice(12, 5, replace=False)]
        assert value == pytest.approx(mmd2_unbiased_loop(x, y), rel=1e-10)
    assert kid(real, fake, subsets=4, subset_size=5, seed=3) == pytest.approx(values.mean())
    assert values.std() > 0  # different subsets, different values: the spread we report


# -- precision and recall against a brute-force neighbour search --------------------------------

def brute_force_precision_recall(real, fake, k):
    """Kynkäänniemi et al. with sklearn's exact neighbour search: a point is inside a manifold
    when it lies within some member's distance to that member's k-th nearest other member."""
    def radii(points):
        distances, _ = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(points).kneighbors(points)
        return distances[:, k]   # column 0 is the point itself

    def inside(points, manifold):
        r = radii(manifold)
        return np.mean([np.any(np.linalg.norm(manifold - p, axis=1) <= r) for p in points])

    return inside(fake, real), inside(real, fake)


def planted_sets(rng, n=40, d=16):
    """Real: two clusters A and B. Generated: half a hair from A's points (inside the real manifold,
    and covering A), half far from everything. So precision = 0.5 and recall = 0.5 (A, not B)."""
    a, b = rng.normal(size=(n // 2, d)), rng.normal(size=(n // 2, d)) + 50
    real = np.concatenate([a, b])
    near_a = a + rng.normal(size=a.shape) * 0.01
    far = rng.normal(size=(n // 2, d)) - 50
    return real, np.concatenate([near_a, far])


def test_precision_recall_matches_brute_force_and_the_planted_answer():
    rng = np.random.default_rng(4)
    real, fake = planted_sets(rng)
    pr = precision_recall(real, fake, k=3)
    assert (pr.precision, pr.recall) == pytest.approx(brute_force_precision_recall(real, fake, 3))
    assert pr.precision == pytest.approx(0.5) and pr.recall == pytest.approx(0.5) and pr.draws == 1
    noisy_real, noisy_fake = rng.random((30, 8)), rng.random((30, 8)) * 1.3
    pr = precision_recall(noisy_real, noisy_fake, k=3)
    assert (pr.precision, pr.recall) == pytest.approx(brute_force_precision_recall(noisy_real, noisy_fake, 3))
    assert 0 < pr.precision < 1  # some generated images outside: a case where the two searches could differ


def test_precision_uses_equal_n_draws_over_the_larger_side():
    rng = np.random.default_rng(5)
    real, fake = planted_sets(rng)
    more_fake = np.concatenate([fake, fake + rng.normal(size=fake.shape) * 0.01])  # twice as many, same mix
    pr = precision_recall(real, more_fake, k=3)
    assert pr.n == len(real) and pr.draws == 2
    assert pr.precision == pytest.approx(0.5)  # two disjoint draws cover every generated image once
    with pytest.raises(ValueError, match="more than 3 images"):
        precision_recall(real[:3], fake)


@pytest.mark.parametrize("args, message", [
    (["--generated", f"{10 ** 12}"], "--generated must be from 4 to 100000"),   # 512 TB of latents
    (["--generated", "3"], "--generated must be from 4 to 100000, got 3"),
    (["--subsets", f"{10 ** 12}"], "--subsets must be from 1 to 10000"),         # 7 TiB of scores
    (["--subset-size", "1"], "--subset-size must be at least 2, got 1"),
    (["--real-cap", "0"], "--real-cap must be at least 2, got 0"),
    (["--seed", "-1"], "--seed must be from 0 to"),
    (["--resolution", "-5"], "--resolution -5: "),                          # was a FileNotFoundError
    (["--resolution", "0"], "--resolution 0: "),
    (["--resolution", "64"], "above the generator's 32 px"),
])
def test_bad_metric_settings_are_one_line_before_any_scoring(emoji_dataset, tmp_path, args, message):
    png = tmp_path / "pairs.png"
    result = CliRunner().invoke(app, ["metrics", "smileys32", "--dataset", str(emoji_dataset), "--device", "cpu",
                                      "--memorisation-png", str(png), *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: ")
    assert not png.exists()
