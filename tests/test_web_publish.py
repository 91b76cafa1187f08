"""Publishing a folder of images as a static site."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from typer.testing import CliRunner

from nonesuch.cli import app
from nonesuch.web.entry import alt_text
from nonesuch.web.publish import PublishError, page_weight, publish_site


def test_publishes_every_image_under_its_content_hash(emoji_folder, tmp_path):
    summary = publish_site(emoji_folder, tmp_path / "site", title="This emoji does not exist")
    site = tmp_path / "site"
    sources = sorted(emoji_folder.glob("*/*.png"))
    assert summary.images == len(sources) == 48 and summary.skipped == []
    for png in sources:
        digest = hashlib.sha256(png.read_bytes()).hexdigest()
        published = site / "img" / f"{digest[:16]}.png"
        assert published.read_bytes() == png.read_bytes()     # byte for byte: signatures survive
    index = json.loads((site / "images.json").read_text())
    assert {entry["file"] for entry in index} == {f"img/{p.name}" for p in (site / "img").iterdir()}
    assert all(entry["width"] == entry["height"] == 64 for entry in index)
    assert "This emoji does not exist" in (site / "index.html").read_text()
    assert json.loads((site / "site.json").read_text())["config"]["title"] == "This emoji does not exist"


def test_page_works_from_file_urls_and_requests_nothing_external(emoji_folder, tmp_path):
    site = publish_site(emoji_folder, tmp_path / "site").site
    page = (site / "index.html").read_text()
    # Scripts, not fetch(): fetch() of a local JSON file fails under file://.
    assert '<script src="images.js">' in page and '<script src="site.js">' in page
    settings = (site / "images.js").read_text()
    assert settings.startswith("window.NONESUCH_SITE = ") and '"mode":"static"' in settings
    record = next((site / "records").iterdir()).read_text()
    assert record.startswith("nonesuchRecord(")
    for name in ("index.html", "site.js", "site.css", "images.js"):
        text = (site / name).read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name


def test_page_weight_without_the_image_does_not_grow_with_the_number_of_images(emoji_folder, tmp_path):
    png = next(emoji_folder.glob("*/*.png")).read_bytes()
    weights = {}
    for count in (10, 2000):
        source = tmp_path / f"many{count}"
        source.mkdir()
        for i in range(count):   # distinct files: the same PNG with a distinct trailing chunk
            (source / f"{i}.png").write_bytes(png + i.to_bytes(4, "big"))
        summary = publish_site(source, tmp_path / f"site{count}")
        assert summary.images == count
        assert summary.page_bytes == page_weight(summary.site, 0)
        weights[count] = summary.page_bytes
    assert weights[2000] <= 50 * 1024, weights
    # Only the image count's digits (and the entry's file name) differ: no per-image index.
    assert abs(weights[2000] - weights[10]) <= 16, weights


def test_generation_records_come_from_sidecars(emoji_folder, tmp_path):
    source = tmp_path / "generated"
    source.mkdir()
    png = sorted(emoji_folder.glob("animals-nature/*.png"))[0]
    shutil.copy(png, source / "42.png")
    record = {"run": "emoji", "seed": 42, "class_name": "animals-nature", "truncation": 0.7,
              "watermark_id": 123456789, "checkpoint_sha256": "ab" * 32}
    (source / "42.json").write_text(json.dumps(record))
    site = publish_site(source, tmp_path / "site").site
    [entry] = json.loads((site / "images.json").read_text())
    assert entry["record"] == record
    assert entry["alt"] == "An AI-generated image (class animals-nature, seed 42)"
    assert json.dumps(record, separators=(",", ":")) in (site / "records" / "0.js").read_text()


def test_skips_what_is_not_an_image_and_names_it(emoji_folder, tmp_path):
    source = tmp_path / "mixed"
    shutil.copytree(emoji_folder / "food-drink", source)
    (source / "broken.png").write_bytes(b"not a png at all")
    (source / "notes.txt").write_text("ignored: not an image suffix")
    summary = publish_site(source, tmp_path / "site")
    assert summary.images == 12
    assert len(summary.skipped) == 1 and "broken.png" in summary.skipped[0]


def test_republishing_replaces_the_site_but_never_other_folders(emoji_folder, tmp_path):
    site = tmp_path / "site"
    publish_site(emoji_folder / "objects", site)
    publish_site(emoji_folder / "food-drink", site)
    assert len(list((site / "img").iterdir())) == 12
    expected = {hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in (emoji_folder / "food-drink").glob("*.png")}
    assert {p.stem for p in (site / "img").iterdir()} == expected
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]     # no staging left over
    with pytest.raises(PublishError, match="not a published site"):
        publish_site(emoji_folder / "objects", emoji_folder / "food-drink")
    with pytest.raises(PublishError, match="no readable images"):
        publish_site(tmp_path / "site" / "records", tmp_path / "other")


def test_alt_text_says_ai_generated():
    assert alt_text({}) == "An AI-generated image"
    assert alt_text({"seed": 3}) == "An AI-generated image (seed 3)"


def test_cli_publish_prints_where_and_fails_cleanly(emoji_folder, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["publish", str(emoji_folder), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    assert "48 images published" in result.output and "nonesuch serve" in result.output
    result = runner.invoke(app, ["publish", str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "not a folder of images" in result.output


def test_a_sparse_30_gb_image_or_sidecar_is_skipped_unread(emoji_folder, tmp_path):
    source = tmp_path / "mixed"
    shutil.copytree(emoji_folder / "food-drink", source)
    first = sorted(source.glob("*.png"))[0]
    for huge in (source / "huge.png", first.with_suffix(".json")):
        with open(huge, "wb") as f:
            f.truncate(30 << 30)          # claims 30 GB, costs nothing: read_bytes() would fill memory
    summary = publish_site(source, tmp_path / "site")
    assert summary.images == 11
    assert sorted(summary.skipped) == sorted([f"{source / 'huge.png'}: too large: 32212254720 bytes > 536870912",
                                              f"{first}: sidecar {first.stem}.json: too large: 32212254720 bytes > 1048576"])
