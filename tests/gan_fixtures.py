"""Helpers for the gan tests: tiny configs on the real emoji fixtures, and plain-colour datasets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nonesuch.data.dataset import DatasetWriter, ImageRecord

REPO = Path(__file__).resolve().parents[1]

# The smallest schedule that still grows 4 -> 8 px with a fade: 3 stages of 64 images, batch 16.
TINY = dict(preset="smoke", resolution=8, kimg=0.064, batch=16, snapshot_kimg=0.064, grid_size=4, attention=[8])


def subprocess_env() -> dict:
    """One thread per training process: the test machine's cores are shared, and OpenMP's spinning
    threads are several times slower when oversubscribed. Fast malloc as the CLI would set it."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "NONESUCH_NO_REEXEC": "1",
            "MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736"}


def nonesuch(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nonesuch", *args], env=subprocess_env(),
                          capture_output=True, text=True, **kwargs)


def flat_colour_dataset(out: Path, colour: tuple[int, int, int], count: int = 32, resolution: int = 8,
                        labels: list[str] | None = None) -> Path:
    """A dataset whose every image is one flat colour (the simplest thing a GAN can learn)."""
    writer = DatasetWriter(out, resolution)
    images = np.empty((count, resolution, resolution, 3), np.uint8)
    images[:] = colour
    records = [ImageRecord(sha256=f"flat{i}", source=f"flat{i}.png",
                           label=labels[i % len(labels)] if labels else None) for i in range(count)]
    writer.append(images, records)
    writer.close()
    return out


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Imported by a test module: every test in it trains on one thread (the test machine's cores
    are shared; see subprocess_env)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
