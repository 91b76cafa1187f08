"""Every file a verb reads whole that a user or another machine could have placed, put in the
way as a FIFO (it stands in for a device: open() blocks on it for ever), a link to /dev/zero
(endless) or a 3 GB sparse file (memory): each is one `error:` line naming the file and the
problem, exit 1. Before the fix these hung, filled memory, printed a traceback, or blamed
something else ("no signing keys", "no saved clusters")."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from gan_fixtures import TINY, one_thread  # noqa: F401  (autouse fixture)
from nonesuch.cli import app
from nonesuch.gan.checkpoint import CheckpointError
from nonesuch.gan.config import resolve_config
from nonesuch.gan.export import export_generator
from nonesuch.gan.train import train
from nonesuch.provenance.keys import init_keys

# What the line says of each (the resume's rewrite of log.jsonl refuses to replace a FIFO: "a
# device, pipe or socket").
PROBLEM = {"fifo": r"FIFO|pipe", "zero": "character device", "sparse": "too large"}


def put_in_the_way(path: Path, kind: str) -> Path:
    """Replace `path` by a FIFO, a link to /dev/zero or a 3 GB sparse file; returns it."""
    if path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    else:
        path.touch()
        os.truncate(path, 3 << 30)
    return path


@pytest.fixture(scope="module")
def tiny_run(emoji_dataset, tmp_path_factory) -> Path:
    """A finished 8 px run: config.json, checkpoints and a log.jsonl of three lines."""
    out = tmp_path_factory.mktemp("bounded") / "run"
    train(resolve_config(emoji_dataset, out, dict(TINY)))
    assert len((out / "log.jsonl").read_text().splitlines()) == 3
    return out


@pytest.fixture(scope="module")
def keys_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    previous = os.environ.get("NONESUCH_HOME")
    os.environ["NONESUCH_HOME"] = str(home)
    try:
        init_keys()
    finally:
        os.environ.pop("NONESUCH_HOME") if previous is None else os.environ.update(NONESUCH_HOME=previous)
    return home


@pytest.fixture
def home(keys_home, tmp_path, monkeypatch) -> Path:
    """A private copy of the keys (a test breaks one), as NONESUCH_HOME."""
    copy = tmp_path / "home"
    shutil.copytree(keys_home, copy)
    monkeypatch.setenv("NONESUCH_HOME", str(copy))
    return copy


# Each place: (files to make from the fixtures, tmp_path) -> (the command, the file put in the way).

def run_log_for_info(ctx, tmp):
    run = shutil.copytree(ctx["run"], tmp / "run")
    return ["info", str(run)], run / "log.jsonl"


def run_config_for_info(ctx, tmp):
    run = shutil.copytree(ctx["run"], tmp / "run")
    return ["info", str(run)], run / "config.json"


def run_config_for_train(ctx, tmp):
    run = shutil.copytree(ctx["run"], tmp / "run")
    return ["train", str(ctx["dataset"]), "--out", str(run)], run / "config.json"


def run_log_for_resume(ctx, tmp):
    run = shutil.copytree(ctx["run"], tmp / "run")
    return ["train", str(ctx["dataset"]), "--out", str(run)], run / "log.jsonl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def site_file_for_serve(ctx, tmp):
    site = tmp / "site"
    (site / "img").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>t</title>")
    (site / "site.json").write_text("{}")
    Image.new("RGB", (4, 4)).save(site / "img" / "a.png")
    return ["serve", str(site), "--port", str(free_port())], site / "img" / "b.png"


def generate_settings(ctx, tmp):
    (tmp / "out").mkdir()
    return ["generate", "smileys32", "--out", str(tmp / "out"), "--count", "1"], tmp / "out" / "generate.json"


def signing_key_for_generate(ctx, tmp):
    return ["generate", "smileys32", "--out", str(tmp / "out"), "--count", "1"], ctx["home"] / "keys" / "signing.key"


def chain_for_generate(ctx, tmp):
    return (["generate", "smileys32", "--out", str(tmp / "out"), "--count", "1"],
            ctx["home"] / "keys" / "signing-chain.pem")


def watermark_key_for_generate(ctx, tmp):
    return ["generate", "smileys32", "--out", str(tmp / "out"), "--count", "1"], ctx["home"] / "keys" / "watermark.key"


def own_ca_for_verify(ctx, tmp):
    return ["verify", str(ctx["image"])], ctx["home"] / "keys" / "ca.pem"


def embeddings_info_for_fit(ctx, tmp):
    dataset = shutil.copytree(ctx["dataset"], tmp / "ds")
    return ["curate", "fit", str(dataset), "--target", "t"], dataset / "embeddings" / "effnet-lite0.json"


def saved_clusters_for_apply(ctx, tmp):
    dataset = shutil.copytree(ctx["dataset"], tmp / "ds")
    return (["curate", "apply", str(dataset), "--cluster", "0", "--k", "4", "--out", str(tmp / "cut")],
            dataset / "curation" / "clusters-k4.json")


PLACES = [run_log_for_info, run_config_for_info, run_config_for_train, run_log_for_resume,
          site_file_for_serve, generate_settings, signing_key_for_generate, chain_for_generate,
          watermark_key_for_generate, own_ca_for_verify, embeddings_info_for_fit,
          saved_clusters_for_apply]


@pytest.fixture
def ctx(tiny_run, emoji_dataset, home, tmp_path) -> dict:
    image = tmp_path / "image.png"
    Image.new("RGB", (8, 8), "white").save(image)
    return {"run": tiny_run, "dataset": emoji_dataset, "home": home, "image": image}


@pytest.mark.parametrize("kind", ["fifo", "sparse"])
@pytest.mark.parametrize("place", PLACES, ids=lambda place: place.__name__)
def test_a_file_in_the_way_is_one_line_naming_it(place, kind, ctx, tmp_path):
    argv, target = place(ctx, tmp_path)
    put_in_the_way(target, kind)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: ") and str(target) in result.output, result.output
    assert re.search(PROBLEM[kind], result.output), result.output


@pytest.mark.parametrize("place", [run_log_for_info, run_log_for_resume, run_config_for_train,
                                   signing_key_for_generate, own_ca_for_verify],
                         ids=lambda place: place.__name__)
def test_a_link_to_dev_zero_is_one_line_naming_it(place, ctx, tmp_path):
    """(A link inside a SITE is never read: serve leaves links out, as it always has.)"""
    argv, target = place(ctx, tmp_path)
    put_in_the_way(target, "zero")
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert str(target) in result.output and re.search(PROBLEM["zero"], result.output), result.output


def test_a_log_line_no_snapshot_writes_is_refused_not_read_whole(tiny_run, tmp_path):
    """A sparse log under the file bound is one line of NULs: refused at the line bound."""
    run = shutil.copytree(tiny_run, tmp_path / "run")
    os.truncate(run / "log.jsonl", 32 << 20)
    result = CliRunner().invoke(app, ["info", str(run)])
    assert result.exit_code == 1 and "line 4 is over 65536 bytes" in result.output, result.output


@pytest.mark.parametrize("kind", ["fifo", "sparse"])
def test_export_names_a_log_in_the_way(tiny_run, tmp_path, kind):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    put_in_the_way(run / "log.jsonl", kind)
    with pytest.raises(CheckpointError, match=PROBLEM[kind]):
        export_generator(run, tmp_path / "exported")
    assert not (tmp_path / "exported").exists()


def test_a_resume_keeps_the_log_lines_up_to_its_checkpoint(tiny_run, tmp_path):
    """The streamed rewrite keeps what the read-it-whole one kept, line for line."""
    run = shutil.copytree(tiny_run, tmp_path / "run")
    lines = (run / "log.jsonl").read_text().splitlines()
    (run / "log.jsonl").write_text("\n".join(lines) + '\n{"images_seen": 99999}\n{"half a li')
    result = CliRunner().invoke(app, ["train", str(ctx_dataset(run)), "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "log.jsonl").read_text().splitlines() == lines


def ctx_dataset(run: Path) -> str:
    return json.loads((run / "config.json").read_text())["dataset"]


def test_demo_rebuilds_a_site_whose_site_json_is_in_the_way(tmp_path):
    from nonesuch.demo import _published_from

    put_in_the_way(tmp_path / "site.json", "fifo")
    assert _published_from(tmp_path) is None       # not read: the demo rebuilds its own site
