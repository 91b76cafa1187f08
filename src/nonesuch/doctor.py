"""`nonesuch doctor`: what this install can do, checked, one line per part.

Each check says what it found and what the part is for, so a missing optional piece reads as
"metrics off until you install X", not as a traceback later in the middle of a run. Checks never
download, write or start anything (the device check only asks torch what it sees).
"""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from dataclasses import asdict, dataclass
from typing import Callable

import nonesuch


@dataclass
class Check:
    name: str
    ok: bool          # False: the part is missing and `needed_for` will not work
    found: str        # what was found, or what to do about it
    needed_for: str   # what the part is used for


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return ""


def check_torch_device() -> Check:
    import torch

    from nonesuch.gan.distributed import choose_device, training_threads

    device = choose_device("auto")
    where = (f"cuda ({torch.cuda.get_device_name(device)}, {torch.cuda.device_count()} visible)"
             if device.type == "cuda" else f"cpu, {training_threads()} training threads by default")
    return Check("device", True, f"torch {torch.__version__}: {where}", "train, generate, serve (--device auto)")


def check_bf16() -> Check:
    import torch

    if torch.cuda.is_available():
        ok = torch.cuda.is_bf16_supported()
        where = "on CUDA"
    else:
        ok = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        where = "CPU kernels (AVX512-BF16 / AMX)"
    found = f"bf16 {where}" if ok else f"no bf16 {where}: --amp auto runs fp32 (slower, same results)"
    return Check("bf16", ok, found, "--amp auto: ~1.7-1.9x faster train and generate")


def check_fid_network() -> Check:
    from nonesuch.metrics.inception import MetricsError, inception_path

    try:
        found = str(inception_path())
    except MetricsError as error:
        return Check("FID network", False, str(error), "FID/KID: train --metric-images, nonesuch metrics")
    return Check("FID network", True, found, "FID/KID: train --metric-images, nonesuch metrics")


def check_package(name: str, package: str, needed_for: str, hint: str) -> Callable[[], Check]:
    def check() -> Check:
        version = _version(package)
        return Check(name, bool(version), f"{package} {version}" if version else hint, needed_for)
    return check


def check_onnxruntime() -> Check:
    version = _version("onnxruntime")
    if not version:
        return Check("onnxruntime", False, "not installed: pip install onnxruntime", "curate embed")
    import onnxruntime

    return Check("onnxruntime", True, f"{version}, providers {', '.join(onnxruntime.get_available_providers())}",
                 "curate embed")


def check_program(name: str, needed_for: str, hint: str) -> Callable[[], Check]:
    def check() -> Check:
        path = shutil.which(name)
        return Check(name, bool(path), path or hint, needed_for)
    return check


def check_keys() -> Check:
    from nonesuch.provenance.keys import default_keys

    keys = default_keys()
    if keys.exists():
        return Check("keys", True, str(keys.folder), "watermark and C2PA signature on every generated image")
    return Check("keys", False, f"none in {keys.folder}: run `nonesuch keys init` (once per install)",
                 "watermark and C2PA signature on every generated image")


def check_ffmpeg() -> Check:
    try:
        import imageio_ffmpeg

        return Check("ffmpeg", True, imageio_ffmpeg.get_ffmpeg_exe(), "interpolate --out walk.mp4")
    except (ImportError, RuntimeError) as error:
        return Check("ffmpeg", False, f"{error}; GIF walks still work", "interpolate --out walk.mp4")


CHECKS: list[Callable[[], Check]] = [
    check_torch_device,
    check_bf16,
    check_fid_network,
    check_package("tensorboard", "tensorboard", "TensorBoard event files beside each run's log.jsonl",
                  "not installed: pip install tensorboard (training still writes log.jsonl)"),
    check_onnxruntime,
    check_package("c2pa", "c2pa-python", "signed C2PA manifests", "not installed: pip install c2pa-python"),
    check_keys,
    check_ffmpeg,
    check_program("exiftool", "reading our XMP label with the tool platforms use (tests)",
                  "not found: apt-get install libimage-exiftool-perl"),
    check_program("chromium", "the browser tests (never a downloaded browser)",
                  "not found: apt-get install chromium"),
]


def run_checks() -> list[Check]:
    """Every check; one that raises is reported as failed with its error, never aborts the rest."""
    results = []
    for check in CHECKS:
        try:
            results.append(check())
        except Exception as error:  # a doctor must finish its round whatever one part does
            name = check.__name__.removeprefix("check_").replace("_", " ")
            results.append(Check(name, False, f"{type(error).__name__}: {error}", "?"))
    return results


def header() -> str:
    return f"nonesuch {nonesuch.__version__}, Python {sys.version.split()[0]} ({sys.executable})"


def as_dict(checks: list[Check]) -> dict:
    return {"version": nonesuch.__version__, "python": sys.version.split()[0],
            "checks": [asdict(c) for c in checks]}
