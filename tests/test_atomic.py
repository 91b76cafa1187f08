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
