"""Options no verb can use, found by probing every verb with hostile values: each is refused in
one `error:` line naming the option, exit status 1, before any work and with nothing written."""

from __future__ import annotations

import os
import socket

import pytest
from typer.testing import CliRunner

from nonesuch.cli import app


def one_line_error(args: list[str], message: str):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: "), result.output
    return result


@pytest.fixture
def places(tmp_path):
    """Where an --out may wrongly point: a file, a folder, a FIFO (a device stands in for
    /dev/null: the rename of an atomic write replaced it with a file), below a file."""
    (tmp_path / "file").write_text("keep me")
    (tmp_path / "folder.gif").mkdir()
    os.mkfifo(tmp_path / "fifo.png")
    return tmp_path


def _listening_port():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    return busy


@pytest.mark.parametrize("args, message", [
    (["generate", "smileys32", "--count", "2", "--out", ""], "--out is empty; give a folder"),  # wrote into the cwd
    (["generate", "smileys32", "--count", "2", "--out", "{tmp}/file"], "--out {tmp}/file: exists and is not a folder"),
    (["generate", "smileys32", "--count", "2", "--out", "{tmp}/file/x"], "cannot be made: {tmp}/file is not a folder"),
    (["interpolate", "smileys32", "--out", "{tmp}/folder.gif"], "--out {tmp}/folder.gif: is a folder"),
    (["interpolate", "smileys32", "--out", "{tmp}/w.gif", "--truncation", "nan"], "--truncation: truncation must be"),
    (["metrics", "smileys32", "--memorisation-png", "{tmp}/fifo.png"], "--memorisation-png {tmp}/fifo.png: is not a regular file"),
    (["metrics", "smileys32", "--memorisation-png", "{tmp}/folder.gif"], "--memorisation-png {tmp}/folder.gif: is a folder"),
    (["publish", "smileys32", "--out", "{tmp}/site", "--truncation", "nan"], "--truncation: truncation must be"),
    (["publish", "smileys32", "--out", "{tmp}/site", "--size", "32"], "--size must be from 64 to 2048 px (the watermark"),  # named the run, not the flag
    (["serve", "smileys32", "--truncation", "-0.0"], "--truncation: truncation must be"),
    (["serve", "smileys32", "--host", ""], "--host is empty"),                    # listened on every interface
    (["serve", "smileys32", "--host", "a b"], "--host a b --port 8000: cannot listen there"),  # uvicorn's log, exit 3
    (["demo", "--out", "{tmp}/file", "--no-serve"], "--out {tmp}/file: exists and is not a folder"),  # a traceback
    (["demo", "--out", "{tmp}/file/demo", "--no-serve"], "cannot be made: {tmp}/file is not a folder"),
    (["demo", "--out", "{tmp}/demo", "--host", ""], "--host is empty"),
    (["demo", "--out", "{tmp}/demo", "--no-serve", "--train-minutes", "1e308"],
     "--train-minutes must be from 0.0 to 250000.0"),        # an OverflowError after the ingest
])
def test_places_and_settings_no_verb_can_use(places, args, message):
    before = sorted(places.rglob("*"))
    args = [a.replace("{tmp}", str(places)) for a in args]
    one_line_error(args, message.replace("{tmp}", str(places)))
    assert sorted(places.rglob("*")) == before and (places / "file").read_text() == "keep me"
    assert (places / "fifo.png").exists() and not (places / "fifo.png").is_file()


@pytest.mark.parametrize("verb", [["serve", "smileys32"], ["demo", "--out", "{tmp}/demo"]])
def test_a_port_in_use_is_refused_before_any_work(tmp_path, verb):
    with _listening_port() as busy:
        port = busy.getsockname()[1]
        args = [a.replace("{tmp}", str(tmp_path)) for a in verb]
        one_line_error([*args, "--port", str(port)], f"--host 127.0.0.1 --port {port}: cannot listen there")
    assert not (tmp_path / "demo").exists()


def test_demo_says_in_one_line_what_a_later_stage_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("NONESUCH_HOME", str(tmp_path / "home"))
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "smileys64").write_text("not a dataset")   # where the demo ingests
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--count", "2", "--no-serve"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.output.strip().splitlines()[-1].startswith("error: ") and "smileys64" in result.output


def test_publish_run_bounds_count_and_never_lists_the_seeds(tmp_path, monkeypatch):
    from nonesuch.generate import folder
    from nonesuch.generate.sampling import Seeds
    from nonesuch.web.publish import MAX_RUN_IMAGES, PublishError, publish_run

    with pytest.raises(PublishError, match=f"count must be from 1 to {MAX_RUN_IMAGES}, got {10 ** 12}"):
        publish_run("smileys32", tmp_path / "site", 10 ** 12)     # list(range(count)) came first
    seen = {}

    def stop(config, *args, **kwargs):
        seen["seeds"] = config.seeds
        raise KeyboardInterrupt

    monkeypatch.setattr(folder, "generate_to_folder", stop)
    with pytest.raises(KeyboardInterrupt):
        publish_run("smileys32", tmp_path / "site", MAX_RUN_IMAGES)
    assert isinstance(seen["seeds"], Seeds) and len(seen["seeds"]) == MAX_RUN_IMAGES
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize("args, message", [
    (["generate", "RUN", "--count", "1e3"], "nonesuch generate: Invalid value for '--count'"),
    (["explain", "RUN", "--target", "imagenet:lemon", "--out", "OUT", "--iterations", "x"],
     "nonesuch explain: Invalid value for '--iterations'"),
    (["generate", "RUN", "--fps", "3"], "nonesuch generate: No such option: --fps"),
    (["generate"], "nonesuch generate: Missing argument 'run'"),
    (["frobnicate"], "nonesuch: No such command 'frobnicate'"),
])
def test_a_mistyped_command_line_is_one_line_naming_the_verb_and_its_help(tmp_path, monkeypatch, capsys,
                                                                          args, message):
    """click's usage errors came as a box wrapped at the terminal's width (a long message split
    over two lines), unlike every other refusal; the installed command now says them in one line."""
    import sys

    from nonesuch import cli

    args = [str(tmp_path / a) if a in ("RUN", "OUT") else a for a in args]
    monkeypatch.setattr(sys, "argv", ["nonesuch", *args])
    monkeypatch.setenv("COLUMNS", "60")
    with pytest.raises(SystemExit) as stopped:
        cli.run_app()
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: {message}") and err.rstrip().endswith("--help)"), err
    assert not (tmp_path / "OUT").exists()


def test_the_installed_command_keeps_its_exit_codes(monkeypatch, capsys):
    """Success is 0, help is 0 and a bare group shows its help with click's 2, as before."""
    import sys

    from nonesuch import cli

    for args, code in ((["--version"], 0), (["info", "--help"], 0), ([], 2), (["curate"], 2)):
        monkeypatch.setattr(sys, "argv", ["nonesuch", *args])
        with pytest.raises(SystemExit) as stopped:
            cli.run_app()
        assert stopped.value.code == code, args
    assert "Usage: nonesuch curate" in capsys.readouterr().out
