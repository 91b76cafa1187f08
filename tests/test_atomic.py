import os

import pytest

from nonesuch import atomic


def test_atomic_write_has_normal_mode_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "out.json"
    atomic.write_json(target, {"a": 1})
    assert target.read_text().strip().startswith("{")
    assert target.stat().st_mode & 0o777 == atomic.FILE_MODE
    assert os.listdir(target.parent) == ["out.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def test_a_device_pipe_or_folder_in_the_target_place_is_refused_and_left_alone(tmp_path):
    """The rename would put a file in the place of whatever is there: as root, a PNG replaced
    /dev/null. A FIFO stands in for the device here (making one needs no root)."""
    import os

    import pytest

    fifo, folder = tmp_path / "pipe.png", tmp_path / "folder.png"
    os.mkfifo(fifo)
    folder.mkdir()
    for target, kind in ((fifo, "a device, pipe or socket"), (folder, "a folder")):
        with pytest.raises(atomic.NotAFileError, match=f"exists and is {kind}, not a file"):
            atomic.write_bytes(target, b"x")
    assert fifo.is_fifo() and folder.is_dir() and sorted(p.name for p in tmp_path.iterdir()) == ["folder.png", "pipe.png"]
    link = tmp_path / "link.png"
    link.symlink_to(fifo)                       # a link is replaced, never followed
    atomic.write_bytes(link, b"x")
    assert link.read_bytes() == b"x" and fifo.is_fifo()


def test_any_verb_that_meets_a_pipe_in_an_outputs_place_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    """`keys init` with a FIFO where watermark.key goes ended in the refusal's traceback."""
    import sys

    from nonesuch import cli

    monkeypatch.setenv("NONESUCH_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "keys").mkdir(parents=True)
    fifo = tmp_path / "home" / "keys" / "watermark.key"
    os.mkfifo(fifo)
    monkeypatch.setattr(sys, "argv", ["nonesuch", "keys", "init"])
    with pytest.raises(SystemExit) as stopped:
        cli.run_app()
    err = capsys.readouterr().err
    assert stopped.value.code == 1 and err.count("\n") == 1
    assert err.startswith(f"error: {fifo}: exists and is a device, pipe or socket") and fifo.is_fifo()
