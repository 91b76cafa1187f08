import numpy as np
import pytest

from nonesuch.data import Dataset, DatasetError, DatasetWriter, ImageRecord, write_subset
from nonesuch.data.dataset import downsample_pyramid


def test_emoji_dataset_has_every_resolution_and_labels(emoji_dataset):
    ds = Dataset(emoji_dataset)
    assert len(ds) == 48
    assert ds.resolutions == [4, 8, 16, 32]
    for r in ds.resolutions:
        assert ds.images(r).shape == (48, r, r, 3)
    assert ds.label_names() == ["animals-nature", "food-drink", "objects", "smileys-emotion"]
    assert (np.bincount(ds.label_indices()) == 12).all()
    # emoji are drawn on white: the corners are white, the centre is not
    img = ds.images(32)[0]
    assert img[0, 0].min() > 240 and img[12:20, 12:20].mean() < 240


def test_pyramid_is_box_filtered():
    img = np.zeros((1, 8, 8, 3), np.uint8)
    img[0, :2, :2] = [255, 0, 100]
    img[0, 0, 0] = [0, 0, 0]
    levels = downsample_pyramid(img)
    assert sorted(levels) == [4, 8]
    assert tuple(levels[4][0, 0, 0]) == (191, 0, 75)  # (0+255*3)/4 rounded


def test_interrupted_append_is_cut_back(tmp_path):
    writer = DatasetWriter(tmp_path / "d", 8)
    writer.append(np.full((2, 8, 8, 3), 7, np.uint8), [ImageRecord(sha256=str(i), source=f"s{i}") for i in range(2)])
    with open(tmp_path / "d" / "pixels" / "8.u8", "ab") as f:  # a crash after pixels, before rows
        f.write(b"x" * 100)
    writer.close()
    writer = DatasetWriter(tmp_path / "d", 8)
    assert writer.count == 2 and (tmp_path / "d" / "pixels" / "8.u8").stat().st_size == 2 * 8 * 8 * 3


def test_not_a_dataset_names_the_folder(tmp_path):
    with pytest.raises(DatasetError, match=str(tmp_path)):
        Dataset(tmp_path)
    with pytest.raises(DatasetError, match="power of two"):
        DatasetWriter(tmp_path / "x", 48)


def test_subset_keeps_members_and_parent(emoji_dataset, tmp_path):
    ds = Dataset(emoji_dataset)
    sub = write_subset(ds, [3, 5, 7], tmp_path / "sub", target="test")
    assert len(sub) == 3 and sub.meta["parent"] == str(ds.root.resolve())
    np.testing.assert_array_equal(sub.images(8), ds.images(8)[[3, 5, 7]])
    assert [r.source for r in sub.records()] == [ds.records()[i].source for i in (3, 5, 7)]
