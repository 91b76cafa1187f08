"""The lesson benchmark scores each arm with the metrics protocol: many generated images against
every real image of a reference, KID with its spread over subsets, N stated."""

from __future__ import annotations

import numpy as np

from nonesuch.metrics.evaluate import score_features


def test_the_protocol_tells_a_near_generator_from_a_far_one_with_a_spread_and_the_counts():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(150, 16)).astype(np.float32)        # [R, D] "real" features: all of them
    near = rng.normal(size=(400, 16)).astype(np.float32)             # the same distribution
    far = rng.normal(0.5, 1.3, size=(400, 16)).astype(np.float32)
    same, other = (score_features(reference, fakes, subsets=20) for fakes in (near, far))
    assert abs(same["kid_x1e3"]) < 20 < other["kid_x1e3"]             # unbiased: ~0 for the same distribution
    assert 0 < same["kid_std_x1e3"] and 0 < other["kid_std_x1e3"]    # a spread over subsets, not one number
    assert same["precision"] > other["precision"]
    assert (same["n_real"], same["n_generated"], same["kid_subset_size"]) == (150, 400, 150)
