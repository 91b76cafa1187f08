"""Which float type a network runs in: one rule for training, sampling and serving.

Weights stay fp32 everywhere; only the arithmetic inside `torch.autocast` runs in the chosen
type. Training calls amp_dtype() for its steps, sampling (gan/generator.py) for every image.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "bf16", "fp16", "off")


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `amp` ("auto", "bf16", "fp16", "off"), or None for full fp32.

    "auto" is bf16 on CUDA, and on CPUs whose oneDNN has bf16 kernels (AVX512-BF16 / AMX), where
    convolutions run ~1.9x faster than fp32. Weights, Adam and the EMA stay fp32 either way, and
    bf16 needs no loss scaling. fp16 (older GPUs) gets a GradScaler per network, applied inside
    the gradient penalty too, and saved in checkpoints so a resume continues with the same scale.
    """
    if amp not in PRECISIONS:
        raise ValueError(f"precision {amp!r}: choose one of {', '.join(PRECISIONS)}")
    if amp == "off":
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None


def precision_name(dtype: torch.dtype | None) -> str:
    """"fp32", "bf16" or "fp16": what a record or a settings file says the images were made in."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def autocast(device: torch.device, dtype: torch.dtype | None):
    """A context running in `dtype` on `device`; a no-op for fp32 (None)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
