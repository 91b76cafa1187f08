"""The training ETA sums each remaining stage at the speed of its own resolution."""

import pytest

from nonesuch.gan.progress_line import StageSpeeds, format_eta
from nonesuch.gan.schedule import Schedule


def test_eta_counts_each_remaining_stage_at_its_resolution_speed():
    schedule = Schedule(16, fade_images=100, stable_images=100)   # 4 | 8 fade, 8 | 16 fade, 16
    speeds = StageSpeeds()
    speeds.add(4, 100, 1.0)    # 0.01 s an image
    speeds.add(8, 50, 1.0)     # 0.02 s an image
    seconds, exact = speeds.eta(schedule, images_seen=150)   # half-way through the 8 px fade
    # 50 + 100 images at 8 px (0.02) and 200 at 16 px, extrapolated x2 per doubling (0.04)
    assert seconds == pytest.approx(150 * 0.02 + 200 * 0.04) and not exact
    speeds.add(16, 10, 0.5)    # measured: 0.05 s an image
    seconds, exact = speeds.eta(schedule, images_seen=310)
    assert seconds == pytest.approx(190 * 0.05) and exact


def test_the_naive_eta_would_have_been_far_too_low():
    schedule = Schedule(64, fade_images=1000, stable_images=1000)
    speeds = StageSpeeds()
    for resolution, per_image in ((4, 0.001), (8, 0.002), (16, 0.004)):
        speeds.add(resolution, 1000, 1000 * per_image)
    seconds, _ = speeds.eta(schedule, images_seen=5000)
    naive = (schedule.total_images - 5000) * 0.004
    assert seconds > 2.5 * naive         # the 32 and 64 px stages cost 2x and 4x the 16 px ones
    assert format_eta(seconds, False).startswith("~") and format_eta(600, True) == "10 min"
