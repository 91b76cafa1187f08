"""The README's "Python API" section is a session that runs: this test extracts its code block
and runs it as written, in a fresh folder with a private NONESUCH_HOME."""

import os
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_api_code() -> str:
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Python API section holds one session"
    return blocks[0]


def test_the_readme_python_session_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NONESUCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    exec(compile(readme_api_code(), str(README), "exec"), {"__name__": "readme"})
    said = capsys.readouterr().out
    assert "8 images in site" in said and "my-smileys" in said
    assert "no-such-generator" in said and "smileys32" in said     # the error names what exists
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "my-smileys" / "generator.json").is_file()
