"""generate's screen (generate/screen.py): a seed's image far from every training image is drawn
again, reproducibly, and the record and watermark ID say which draw it is."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nonesuch.data import Dataset
from nonesuch.generate.errors import GenerateError
from nonesuch.generate.pipeline import Producer
from nonesuch.generate.screen import ScreenConfig, attempt_seed, load_screen, write_screen
from nonesuch.provenance.registry import watermark_id_for

from generate_fixtures import make_untrained_run


@pytest.fixture(scope="module")
def screened_folder(emoji_dataset, tmp_path_factory):
    """A screen built from 32 px real emoji: the 48 test emoji, the threshold their 80th percentile."""
    folder = tmp_path_factory.mktemp("screen")
    reals = np.asarray(Dataset(emoji_dataset).images(32))
    threshold = write_screen(folder, reals)
    return folder, reals, threshold


def test_a_real_image_passes_and_noise_is_drawn_again_until_something_passes(screened_folder):
    folder, reals, threshold = screened_folder
    screen = load_screen(folder)
    assert screen.threshold == pytest.approx(threshold)
    noise = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    distances = screen.distances(np.concatenate([reals[:4], noise]))
    assert (distances[:4] < 1e-2).all()                     # each real is its own nearest image
    assert (distances[4:] > threshold).all()                # noise is far from every emoji

    def sample(z, rows):
        # Attempts 0 and 1 make noise; from attempt 2 on, a real emoji (which one: by row).
        attempt = next(a for a in range(8) if torch.equal(z[0], _latent(seeds[rows[0]], a)))
        return noise[:len(rows)] if attempt < 2 else reals[[r + 10 for r in rows]]

    seeds = [5, 6, 7]
    pixels, attempts, found = screen.draw(sample, seeds, latent_dim=8)
    assert attempts == [2, 2, 2]
    assert np.array_equal(pixels, reals[10:13]) and (found <= threshold).all()


def test_a_seed_that_never_passes_keeps_its_closest_draw_and_the_search_is_bounded(screened_folder):
    folder, reals, _ = screened_folder
    screen = load_screen(folder)
    rng = np.random.default_rng(1)
    # Eight draws, all noise (far from every emoji), a different amount of it each time.
    draws = [np.clip(reals[:1] + rng.normal(0, 40 + 10 * k, reals[:1].shape), 0, 255).astype(np.uint8)
             for k in range(ScreenConfig.max_attempts)]
    calls = []

    def sample(z, rows):
        calls.append(len(calls))
        return draws[calls[-1]]

    pixels, attempts, found = screen.draw(sample, [1], latent_dim=8)
    distances = [screen.distances(d)[0] for d in draws]
    assert min(distances) > screen.threshold                # the premise: none passes
    assert len(calls) == ScreenConfig.max_attempts          # bounded
    assert attempts == [int(np.argmin(distances))] and np.array_equal(pixels, draws[attempts[0]])


def _latent(seed: int, attempt: int) -> torch.Tensor:
    return torch.randn(8, generator=torch.Generator().manual_seed(attempt_seed(seed, attempt)))


def test_the_shipped_generator_screens_reproducibly_and_ids_name_the_draw():
    with Producer("smileys64", size=64, sign=False, register=False) as screened, \
            Producer("smileys64", size=64, sign=False, register=False, screen=False) as plain:
        seeds = list(range(12))
        first, attempts = screened._draw(seeds)
        again, attempts_again = screened._draw(seeds)
        assert np.array_equal(first, again) and attempts == attempts_again
        assert any(a > 0 for a in attempts) and any(a == 0 for a in attempts)   # some are redrawn
        unscreened = plain.native_pixels(seeds)
        for i, attempt in enumerate(attempts):      # a first draw that passes is the plain image
            assert np.array_equal(first[i], unscreened[i]) == (attempt == 0)
        records = [image.record for image in screened.produce(seeds[:4])]
    sha = records[0]["checkpoint_sha256"]
    for record, attempt in zip(records, attempts):
        assert record["screen_attempt"] == attempt
        plain_id = watermark_id_for(sha, record["seed"], None, None)
        assert (record["watermark_id"] == plain_id) == (attempt == 0)


def test_asking_for_a_screen_a_run_does_not_have_is_one_clear_error(tmp_path):
    run = make_untrained_run(tmp_path / "run", [])
    with pytest.raises(GenerateError, match="screen.npz"):
        Producer(run, sign=False, register=False, screen=True)


@pytest.mark.parametrize("content", [b"not a zip", "unbounded", "wrong-shape"])
def test_a_broken_or_hostile_screen_file_is_one_clear_error(tmp_path, content):
    path = tmp_path / "screen.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        attempts = 10**9 if content == "unbounded" else 8
        reference = np.zeros((3, 1280) if content == "unbounded" else (3, 7), np.float16)
        np.savez(path, reference=reference, threshold=np.float32(1), max_attempts=np.int64(attempts))
    with pytest.raises(GenerateError, match="screen.npz: not a"):
        load_screen(tmp_path)


def test_a_seed_drawn_first_time_through_the_screen_is_the_same_registry_row_as_without(tmp_path):
    from nonesuch.provenance.registry import Registry

    path = tmp_path / "registry.sqlite"            # a Producer closes its registry: one each
    with Producer("smileys64", size=64, sign=False, registry=Registry(path), screen=False) as plain:
        plain.produce(list(range(6)))
    with Producer("smileys64", size=64, sign=False, registry=Registry(path)) as screened:
        records = [image.record for image in screened.produce(list(range(6)))]   # no "already belongs"
    assert 0 in {r["screen_attempt"] for r in records}
    with Registry(path) as registry:
        assert len(registry) == 6 + sum(1 for r in records if r["screen_attempt"])
        for record in records:
            row = registry.lookup(record["watermark_id"])
            assert row["seed"] == record["seed"] and row["screen_attempt"] == (record["screen_attempt"] or None)


def test_exporting_a_screen_from_a_run_whose_dataset_is_gone_is_one_clear_error(tmp_path):
    from nonesuch.gan.checkpoint import CheckpointError
    from nonesuch.gan.export import export_generator

    run = make_untrained_run(tmp_path / "run", [])          # its config names no real dataset
    with pytest.raises(CheckpointError, match="cannot build the screen from its dataset"):
        export_generator(run, tmp_path / "exported", screen=True)
    assert not (tmp_path / "exported").exists()              # nothing half-written
