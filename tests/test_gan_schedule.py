"""Growth and fade follow from the image count alone."""

import pytest

from nonesuch.gan.schedule import Schedule


def test_growth_and_fade_schedule():
    schedule = Schedule(resolution=16, fade_images=100, stable_images=200)
    assert [(k, r) for k, r, _ in schedule.stages()] == [
        ("stable", 4), ("fade", 8), ("stable", 8), ("fade", 16), ("stable", 16)]
    assert schedule.total_images == 200 + 300 + 300

    assert schedule.at(0).resolution == 4 and schedule.at(0).alpha == 1.0
    assert schedule.at(199).resolution == 4
    fade = schedule.at(200)
    assert (fade.kind, fade.resolution, fade.alpha) == ("fade", 8, 0.0)
    assert schedule.at(250).alpha == pytest.approx(0.5)
    assert schedule.at(299).alpha == pytest.approx(0.99)
    assert (schedule.at(300).kind, schedule.at(300).alpha) == ("stable", 1.0)
    assert schedule.at(575).resolution == 16 and schedule.at(575).alpha == pytest.approx(0.75)
    # Past the end: the last stage, fully faded in.
    end = schedule.at(10_000)
    assert (end.kind, end.resolution, end.alpha) == ("stable", 16, 1.0)


def test_alpha_rises_monotonically_during_a_fade():
    schedule = Schedule(resolution=8, fade_images=64, stable_images=64)
    alphas = [schedule.at(i).alpha for i in range(64, 128, 8)]
    assert alphas == sorted(alphas) and alphas[0] == 0.0 and alphas[-1] < 1.0
