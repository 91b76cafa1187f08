"""Sizes and counts a hostile (or mistyped) command line gives: refused in one line before any
memory is spent, and seed lists that are never materialised."""

from __future__ import annotations

import tracemalloc

import pytest
from typer.testing import CliRunner

from nonesuch.cli import app
from nonesuch.generate.folder import _chunks, _ranges
from nonesuch.generate.sampling import MAX_SEED, Seeds, parse_seeds


@pytest.mark.parametrize("args, message", [
    (["--count", "4", "--size", "20000"], "--size must be from 64 to 2048"),
    (["--count", "4", "--size", "0"], "--size must be from 64 to 2048"),
    (["--count", "4", "--size", "-5"], "--size must be from 64 to 2048"),
    (["--seeds", f"{2 ** 64}"], "out of range"),
    (["--seeds", f"0-{10 ** 30}"], "out of range"),
    (["--seeds", "5-3"], "3 < 5"),
    (["--seeds", "-3"], "bad seed range"),
    (["--seeds", "1e9"], "bad seed range"),
    (["--count", f"{2 ** 63 + 1}"], "--count must be from 0"),
    (["--seeds", f"0-{2 ** 62}"], "ask for fewer"),
    (["--count", "-1"], "--count must be from 0"),
    (["--count", "0"], "nothing to generate"),
    (["--seeds", "0-"], "bad seed range '0-'"),
    (["--count", "4", "--truncation", "nan"], "--truncation: truncation must be in (0, 1]"),
])
def test_bad_sizes_and_counts_are_one_line_before_any_work(tmp_path, args, message):
    result = CliRunner().invoke(app, ["generate", "smileys32", "--out", str(tmp_path / "out"), *args])
    assert result.exit_code != 0 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    if "--size" in args:  # named as itself, not as the option checked beside it
        assert result.output.startswith("error: --size must"), result.output


@pytest.mark.parametrize("args, message", [
    (["--size", "0"], "error: --size must be from 64 to 2048 px (the watermark cannot be read below 64 px), got 0"),
    (["--frames", "0"], "error: --frames must be at least 1, got 0"),
    (["--frames", "-1"], "error: --frames must be at least 1, got -1"),
    (["--frames", f"{10 ** 12}"], "GiB of pixels at once, over 1 GiB"),
    (["--seeds", "0-999", "--size", "2048"], "GiB of pixels at once, over 1 GiB"),
    (["--fps", "0"], "error: --fps must be from 1 to 120, got 0"),
    (["--fps", "-1"], "error: --fps must be from 1 to 120, got -1"),
    (["--fps", "1000000"], "error: --fps must be from 1 to 120, got 1000000"),
    (["--seeds", "0-"], "error: --seeds: bad seed range"),
])
def test_bad_walk_settings_are_one_line_before_any_work(tmp_path, args, message):
    out = tmp_path / "walk.gif"
    result = CliRunner().invoke(app, ["interpolate", "smileys32", "--out", str(out), *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_walk_keyframes_and_size_are_bounded(tmp_path):
    for args, message in [(["--seeds", "0-100000"], "at most 1000"), (["--size", "20000"], "--size")]:
        result = CliRunner().invoke(app, ["interpolate", "smileys32", "--out", str(tmp_path / "w.gif"), *args])
        assert result.exit_code == 1 and message in result.output, result.output


def test_a_billion_seeds_cost_bytes_not_gigabytes():
    tracemalloc.start()
    seeds = Seeds.first(10 ** 9)
    parsed = parse_seeds(f"{MAX_SEED - 10 ** 9}-{MAX_SEED},5")
    first = next(_chunks(seeds, 4096))
    head = seeds[:10 ** 9 - 1]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2_000_000
    assert len(seeds) == 10 ** 9 and len(head) == 10 ** 9 - 1 and first == list(range(4096))
    assert len(parsed) == 10 ** 9 + 2 and parsed[-1] == 5 and parsed[10 ** 9] == MAX_SEED
    assert _ranges(seeds) == "0-999999999" and str(parsed) == f"{MAX_SEED - 10 ** 9}-{MAX_SEED},5"


def test_seed_ranges_behave_like_the_list_they_stand_for():
    seeds = parse_seeds("3,5,10-12,0")
    listed = [3, 5, 10, 11, 12, 0]
    assert list(seeds) == listed and len(seeds) == 6 and seeds == listed
    for s in (slice(None, 4), slice(1, 5), slice(2, None), slice(0, 0), slice(4, 100)):
        assert list(seeds[s]) == listed[s]
    assert [seeds[i] for i in range(-6, 6)] == [listed[i] for i in range(-6, 6)]
    with pytest.raises(IndexError):
        seeds[6]


def test_a_one_image_dataset_trains_and_snapshots(tmp_path, monkeypatch):
    from gan_fixtures import TINY, flat_colour_dataset

    from nonesuch.gan.checkpoint import latest_checkpoint
    from nonesuch.gan.config import TrainError, resolve_config
    from nonesuch.gan.train import train

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    one = flat_colour_dataset(tmp_path / "one", (200, 30, 30), count=1, labels=["red"])
    run = train(resolve_config(one, tmp_path / "run", {**TINY, "grid_size": 64, "conditional": True}),
                until_images=32)
    assert latest_checkpoint(run).name == "000000032" and (run / "grids" / "000000032.png").is_file()
    with pytest.raises(TrainError, match="at least 2 real images"):
        train(resolve_config(one, tmp_path / "metric", {**TINY, "metric_images": 8}))
