"""The lesson benchmark scores both arms at equal N: draws of n reals against n fakes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

BENCH = Path(__file__).parents[1] / "benchmarks" / "bench_curation_lesson.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_curation_lesson", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_equal_n_draws_tell_a_near_generator_from_a_far_one():
    bench = load_bench()
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(300, 16))                       # [R, D] "real" features
    near = rng.normal(size=(4 * 50, 16))                         # same distribution, 4 draws of 50
    far = rng.normal(0.5, 1.3, size=(4 * 50, 16))
    same, other = (bench.draw_scores(reference, fakes, 50, 4, seed=1) for fakes in (near, far))
    assert abs(same["kid"][0]) < 0.02 < other["kid"][0]          # unbiased: ~0 for the same distribution
    assert same["fid"][0] < other["fid"][0] and same["fid"][0] > 0  # biased: > 0 even for the same one
    assert same["kid"][1] > 0                                     # the draws differ: an sd, not one number
