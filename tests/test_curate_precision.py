"""int8 embeddings: the quantised graph must keep the float32 graph's features, and embeddings of
one precision are never served as the other's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate_fixtures import copy_dataset, embedded_dataset  # noqa: F401 (fixture)
from nonesuch.curate.embed import (EmbedConfig, calibration_images, embed_dataset, load_embeddings,
                                   onnx_model_path)
from nonesuch.curate.errors import CurateError


def test_calibration_images_are_fixed_crops_of_photos():
    first, again = calibration_images(8, 64), calibration_images(8, 64)
    assert first.shape == (8, 64, 64, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)               # the quantised graph is reproducible
    assert first.std(axis=(1, 2, 3)).min() > 5                  # real photo content, not blank crops


def test_int8_features_agree_with_float32(embedded_dataset, tmp_path):
    """Default embeddings are int8; float32 ones of the same emoji point the same way."""
    int8 = load_embeddings(embedded_dataset).features
    info = json.loads((embedded_dataset.root / "embeddings" / "effnet-lite0.json").read_text())
    assert info["config"]["precision"] == "int8"
    dataset = copy_dataset(embedded_dataset.root, tmp_path / "ds")
    float32 = embed_dataset(dataset, EmbedConfig(precision="float32")).features
    cosine = (int8 * float32).sum(1) / (np.linalg.norm(int8, axis=1) * np.linalg.norm(float32, axis=1))
    assert cosine.mean() > 0.97 and cosine.min() > 0.9, (cosine.mean(), cosine.min())
    assert np.abs(int8 - float32).max() > 1e-3                  # and it really is another graph


def test_embeddings_of_another_precision_are_not_reused(embedded_dataset, tmp_path):
    dataset = copy_dataset(embedded_dataset.root, tmp_path / "ds")
    embed_dataset(dataset, EmbedConfig(precision="float32"))
    with pytest.raises(CurateError, match="curate embed"):
        load_embeddings(dataset)                                # `curate` reads int8: must re-embed


def test_an_unknown_precision_is_refused():
    with pytest.raises(CurateError, match="float32 or int8"):
        onnx_model_path(EmbedConfig(precision="fp16"))
