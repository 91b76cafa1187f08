"""The README's first command, in quick mode: every stage runs on the bundled data with the
shipped generator, and what it publishes is marked, signed and traceable."""

import json

import pytest
from typer.testing import CliRunner

from nonesuch.cli import app
from nonesuch.demo import shipped_run
from nonesuch.gan.generator import load_generator
from nonesuch.provenance.registry import Registry
from nonesuch.provenance.verify import verify_file


def test_shipped_generator_is_small_and_loads():
    size = sum(p.stat().st_size for p in shipped_run().rglob("*") if p.is_file())
    assert size <= 20 * 1024 * 1024
    loaded = load_generator(shipped_run())
    assert loaded.resolution == 64 and loaded.info.architecture["name"] == "cpu"
    by_name = load_generator("smileys64")
    assert by_name.checkpoint_sha256 == loaded.checkpoint_sha256 == loaded.info.files["generator_ema.safetensors"]


def test_demo_quick_mode_builds_a_verifiable_site(tmp_path, monkeypatch):
    monkeypatch.setenv("NONESUCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--count", "12", "--no-serve"])
    assert result.exit_code == 0, result.output
    site = tmp_path / "demo" / "site"
    index = json.loads((site / "images.json").read_text())
    assert len(index) == 12 and (site / "index.html").is_file()
    assert len({image["record"]["seed"] for image in index}) == 12
    with Registry() as registry:  # the default registry, under NONESUCH_HOME
        report = verify_file(site / index[0]["file"], registry=registry)
    assert report.verdict == "verified" and report.watermark["status"] == "found"
    # a second run reuses the dataset and the site instead of redoing them
    again = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--count", "12", "--no-serve"])
    assert again.exit_code == 0 and "publish" not in again.output


@pytest.mark.parametrize("args, message", [
    (["--count", "0"], "--count must be from 1 to 100000, got 0"),           # a PublishError traceback
    (["--count", f"{10 ** 12}"], "--count must be from 1 to 100000"),        # a MemoryError traceback
    (["--train-minutes", "nan"], "--train-minutes must be from 0.0 to 250000.0"),    # trained forever
    (["--train-minutes", "inf"], "--train-minutes must be from 0.0 to 250000.0"),
    (["--train-minutes", "-1"], "--train-minutes must be from 0.0 to 250000.0"),
    (["--port", "-1"], "--port must be from 1 to 65535, got -1"),            # a traceback after all the work
])
def test_bad_demo_numbers_are_one_line_before_any_work(tmp_path, args, message):
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--no-serve", *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: ")
    assert not (tmp_path / "demo").exists()
