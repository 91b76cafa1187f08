"""Checkpoints a person can trust: no pickle, written atomically, enough to resume exactly.

    RUN/checkpoints/000012345/         images seen, zero-padded: sorts by age
        generator_ema.safetensors      what every output is made from
        generator.safetensors
        discriminator.safetensors
        optimizers.safetensors         Adam moments and step counts of G and D
        state.json                     images seen, step, stage, optimizer hyper-parameters,
                                       sha256 of each file

A checkpoint is written into a hidden temporary folder that is renamed into place when complete,
so a crash leaves either the whole checkpoint or none. Nothing is ever loaded with pickle: weights
and optimizer moments are safetensors, everything else is JSON. Random numbers need no saved
state: every step draws from a generator seeded by (seed, step, rank), see train.py.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from nonesuch.gan.errors import CheckpointError
from nonesuch.hashing import file_sha256

FORMAT = "nonesuch-checkpoint/1"
WEIGHT_FILES = ("generator_ema", "generator", "discriminator")


@dataclass
class LoadedGenerator:
    generator: torch.nn.Module   # the EMA generator, eval(), output at the run's resolution
    latent_dim: int
    resolution: int              # output size in px
    class_names: list[str]       # [] for unconditional runs; class index i = class_names[i]
    run_dir: Path
    checkpoint_path: Path
    checkpoint_sha256: str       # hash of the generator weights file
    config: dict                 # the run's resolved config


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- optimizer state <-> flat tensors + JSON ---------------------------------------------------

def optimizer_tensors(optimizer: torch.optim.Optimizer, prefix: str) -> tuple[dict, dict]:
    """Split an optimizer's state_dict into safetensors-able tensors and JSON-able rest."""
    state = optimizer.state_dict()
    tensors = {f"{prefix}.{index}.{key}": value.detach().contiguous()
               for index, slots in state["state"].items() for key, value in slots.items()}
    return tensors, {"param_groups": state["param_groups"]}


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, prefix: str, tensors: dict, meta: dict) -> None:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        owner, index, key = name.split(".", 2)
        if owner == prefix:
            state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


# -- writing -----------------------------------------------------------------------------------

def save_checkpoint(run_dir: Path, generator, discriminator, generator_ema, optimizers: dict,
                    state: dict, keep: int) -> Path:
    """Write checkpoints/<images seen>/ atomically, then drop all but the newest `keep`."""
    folder = Path(run_dir) / "checkpoints"
    final = folder / f"{state['images_seen']:09d}"
    tmp = folder / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    networks = {"generator_ema": generator_ema, "generator": generator, "discriminator": discriminator}
    for name, net in networks.items():
        save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, tmp / f"{name}.safetensors")
    tensors, optimizer_meta = {}, {}
    for prefix, optimizer in optimizers.items():
        t, meta = optimizer_tensors(optimizer, prefix)
        tensors.update(t)
        optimizer_meta[prefix] = meta
    save_file(tensors, tmp / "optimizers.safetensors")
    files = [*(f"{n}.safetensors" for n in WEIGHT_FILES), "optimizers.safetensors"]
    state = {**state, "format": FORMAT, "optimizers": optimizer_meta,
             "sha256": {name: file_sha256(tmp / name) for name in files}}
    (tmp / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    for name in [*files, "state.json"]:
        _fsync(tmp / name)
    if final.exists():  # the same images_seen written again (e.g. the final snapshot): replace it
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync(folder)
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


# -- reading -----------------------------------------------------------------------------------

def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first (temporary folders start with '.' and are skipped)."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit() and (p / "state.json").is_file())


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def _checkpoint_folder(run_dir: Path, checkpoint: str | Path | None) -> Path:
    if checkpoint is None:
        found = latest_checkpoint(run_dir)
        if found is None:
            raise CheckpointError(f"{run_dir / 'checkpoints'}: no checkpoint yet; train longer or check the path")
        return found
    path = Path(checkpoint)
    if not path.exists() and (run_dir / "checkpoints" / path).exists():
        path = run_dir / "checkpoints" / path
    if path.is_file():  # e.g. .../generator_ema.safetensors
        path = path.parent
    if not (path / "state.json").is_file():
        raise CheckpointError(f"{path}: not a checkpoint folder (no state.json)")
    return path


def read_state(folder: Path) -> dict:
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{folder / 'state.json'}: unreadable ({e})") from e
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{folder / 'state.json'}: unknown format {state.get('format')!r}, expected {FORMAT}")
    return state


def load_weights(module: torch.nn.Module, path: Path, device: str = "cpu") -> None:
    try:
        tensors = load_file(path, device=device)
        module.load_state_dict(tensors, strict=True)
    except (OSError, SafetensorError, RuntimeError) as e:
        raise CheckpointError(f"{path}: does not fit this run's networks ({str(e).splitlines()[0]})") from e


def load_training_checkpoint(folder: Path, generator, discriminator, generator_ema, optimizers: dict,
                             device: str = "cpu") -> dict:
    """Restore everything a run needs to continue; returns the saved state."""
    state = read_state(folder)
    for name, net in zip(WEIGHT_FILES, (generator_ema, generator, discriminator)):
        load_weights(net, folder / f"{name}.safetensors", device)
    tensors = load_file(folder / "optimizers.safetensors", device=device)
    for prefix, optimizer in optimizers.items():
        load_optimizer_tensors(optimizer, prefix, tensors, state["optimizers"][prefix])
    return state


def read_run_config(run_dir: Path) -> dict:
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{run_dir}: not a training run (no config.json); make one with `nonesuch train`")
    try:
        return json.loads(config_path.read_text())
    except ValueError as e:
        raise CheckpointError(f"{config_path}: not valid JSON ({e})") from e


def load_generator(run_dir: str | Path, checkpoint: str | Path | None = None, device: str = "cpu") -> LoadedGenerator:
    """The EMA generator of a run's latest (or the given) checkpoint, ready to sample from.

    generator(z [N, latent_dim] float32 ~ N(0, I), labels [N] int64 or None) -> [N, 3, R, R] in ~[-1, 1].
    A checkpoint taken before training reached full size samples at its own stage and is
    upsampled to R, so callers always get the run's resolution.
    """
    from nonesuch.gan.config import TrainConfig

    run_dir = Path(run_dir)
    config_dict = read_run_config(run_dir)
    try:
        config = TrainConfig.from_dict(config_dict)
        generator = config.make_generator()
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{run_dir / 'config.json'}: incompatible with this version of nonesuch ({e})") from e
    folder = _checkpoint_folder(run_dir, checkpoint)
    state = read_state(folder)
    weights = folder / "generator_ema.safetensors"
    load_weights(generator, weights, device)
    generator.stage_resolution = int(state["stage"]["resolution"])
    generator.stage_alpha = float(state["stage"]["alpha"])
    generator.to(device).eval().requires_grad_(False)
    return LoadedGenerator(
        generator=generator, latent_dim=config.arch.latent_dim, resolution=config.resolution,
        class_names=list(config.class_names) if config.conditional else [],
        run_dir=run_dir, checkpoint_path=weights,
        checkpoint_sha256=state.get("sha256", {}).get("generator_ema.safetensors") or file_sha256(weights),
        config=config_dict,
    )
