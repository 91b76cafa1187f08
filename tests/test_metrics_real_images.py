"""The metrics on real emoji with the real Inception network: memorisation flags a planted copy,
generated images reach the scoring resolution exactly as the dataset's ladder does, and
`nonesuch metrics` scores the shipped generator. A handful of images each, to stay fast."""

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import make_dataset
from gan_fixtures import REPO, nonesuch
from PIL import Image

from nonesuch.data.dataset import Dataset
from nonesuch.metrics.evaluate import generated_pixels, uint8_to_unit
from nonesuch.metrics.inception import inception_features
from nonesuch.metrics.memorisation import closest_pairs_sheet, memorisation

SHIPPED = REPO / "src" / "nonesuch" / "pretrained" / "smileys32"


def test_memorisation_flags_a_planted_copy_of_a_training_image(emoji_dataset):
    data = Dataset(emoji_dataset)
    labels, pixels = np.array(data.labels()), data.images(32)
    smileys, animals = np.flatnonzero(labels == "smileys-emotion")[:6], np.flatnonzero(labels == "animals-nature")[:2]
    real = pixels[smileys]
    fake = np.concatenate([pixels[animals[:1]], real[2:3], pixels[animals[1:]]])  # #1 is a copy of real #2
    features = inception_features(uint8_to_unit(np.concatenate([real, fake]))).numpy()
    found = memorisation(features[:6], features[6:])
    assert found.count == 1 and found.share == pytest.approx(1 / 3)
    generated, nearest, distance = found.closest(5)[0]
    assert (generated, nearest) == (1, 2) and distance <= 1e-6 < found.threshold
    assert len(found.closest(5)) == 3 and found.distance[[0, 2]].min() > found.threshold  # the other emoji pass
    sheet = closest_pairs_sheet(fake[:2], real[:2], [0.0, 0.25])
    assert sheet.width > 2 * 128 and sheet.height > 2 * 128   # two rows of two 128 px tiles


def test_generated_images_are_scored_like_the_datasets_ladder(emoji_dataset):
    data = Dataset(emoji_dataset)
    full = data.images(32)[:5]

    def sample(z, labels):  # a "generator" that returns the dataset's own 32 px images
        return uint8_to_unit(full[:len(z)])
    assert np.array_equal(generated_pixels(sample, torch.zeros(5, 4), None, 32), full)   # uint8 round trip exact
    assert np.array_equal(generated_pixels(sample, torch.zeros(5, 4), None, 16), data.images(16)[:5])
    assert np.array_equal(generated_pixels(sample, torch.zeros(5, 4), None, 8), data.images(8)[:5])


@pytest.fixture(scope="module")
def six_smileys(emoji_folder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("six") / "png"
    (folder / "smileys").mkdir(parents=True)
    for png in sorted((emoji_folder / "smileys-emotion").glob("*.png"))[:6]:
        shutil.copy(png, folder / "smileys" / png.name)
    return make_dataset(folder, tmp_path_factory.mktemp("six") / "ds", 32)


def test_metrics_command_scores_the_shipped_generator(six_smileys, tmp_path):
    png = tmp_path / "closest.png"
    result = nonesuch("metrics", str(SHIPPED), "--dataset", str(six_smileys), "--generated", "8",
                      "--resolution", "16", "--subsets", "5", "--memorisation-png", str(png), "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert (scores["n_generated"], scores["n_real"], scores["resolution"], scores["kid_subset_size"]) == (8, 6, 16, 6)
    assert np.isfinite([scores["kid_x1e3"], scores["kid_std_x1e3"], scores["fid"]]).all() and scores["kid_std_x1e3"] > 0
    assert 0 <= scores["precision"] <= 1 and 0 <= scores["recall"] <= 1 and scores["pr_n"] == 6
    assert 0 <= scores["memorised"] <= 1 and len(scores["closest_pairs"]) == 5
    assert Image.open(png).size[1] > 5 * 128
    text = nonesuch("metrics", str(SHIPPED), "--dataset", str(six_smileys), "--generated", "8", "--resolution", "16",
                    "--subsets", "5")  # the real features come from the cache now
    assert text.returncode == 0, text.stderr
    assert "8 generated vs all 6 real images" in text.stdout and "compare FIDs only at equal N" in text.stdout


def test_metrics_command_errors_are_one_line(six_smileys, tmp_path):
    # A shipped generator records its data by name only, so the dataset must be named.
    for args, message in [((str(SHIPPED),), "names smileys32, which is not here; pass --dataset DATASET"),
                          ((str(SHIPPED), "--dataset", str(tmp_path / "gone")), "gone: not a nonesuch dataset"),
                          ((str(SHIPPED), "--dataset", str(six_smileys), "--resolution", "64"),
                           "--resolution 64 is above the generator's 32 px")]:
        result = nonesuch("metrics", *args)
        assert result.returncode == 1 and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
