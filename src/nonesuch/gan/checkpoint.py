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

Nothing on disk is trusted: every file is read once into memory, its sha256 compared with
state.json, and the tensors parsed from those same bytes, so what is loaded is what was checked
and the hash a caller records is the hash of what it loaded. A damaged or modified newest
checkpoint is passed over, with one line naming the file, for the newest one that checks out;
weights that are not finite are never written, and rotation never deletes the checkpoint it has
just written, so a run always keeps one good checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save_file

from nonesuch.bounds import check_range
from nonesuch.gan.errors import CheckpointError
from nonesuch.gan.folders import read_json_object
from nonesuch.gan.presets import check_network_size
from nonesuch.hashing import file_sha256

FORMAT = "nonesuch-checkpoint/1"
WEIGHT_FILES = ("generator_ema", "generator", "discriminator")
# Every file is read whole into memory (the bytes hashed are the bytes parsed), so its size is
# bounded first: the largest preset ("paper", 1024 px) writes ~0.1 GB per network and ~0.4 GB of
# optimizer moments; a sparse 30 GB file or a link to /dev/zero is refused before it is read.
MAX_WEIGHTS_FILE_BYTES = 1 << 30


@dataclass
class LoadedGenerator:
    generator: torch.nn.Module   # the EMA generator, eval(), output at the run's resolution
    latent_dim: int
    resolution: int              # output size in px
    class_names: list[str]       # [] for unconditional runs; class index i = class_names[i]
    run_dir: Path
    checkpoint_path: Path
    checkpoint_sha256: str       # hash of the generator weights bytes that were loaded
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
    """Write checkpoints/<images seen>/ atomically, then drop all but the newest `keep`.

    Refuses (CheckpointError) to write weights that are not finite: a checkpoint on disk is one a
    run can continue from. The one just written is never rotated out, whatever sorts after it (a
    damaged checkpoint from further along, which the resume passed over)."""
    folder = Path(run_dir) / "checkpoints"
    final = folder / f"{state['images_seen']:09d}"
    networks = {"generator_ema": generator_ema, "generator": generator, "discriminator": discriminator}
    for name, net in networks.items():
        bad = non_finite_tensors(net.state_dict())
        if bad:
            raise CheckpointError(f"{final}: not written, {name} has non-finite values in {', '.join(bad[:3])}")
    tmp = folder / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
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
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def non_finite_tensors(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of floating-point tensors holding a NaN or an infinity."""
    return [name for name, t in tensors.items()
            if t.is_floating_point() and not bool(torch.isfinite(t).all())]


# -- reading -----------------------------------------------------------------------------------

def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first (temporary folders start with '.' and are skipped)."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit() and (p / "state.json").is_file())


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint, checked or not (see newest_good_checkpoint)."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def read_checked(folder: Path, name: str, state: dict) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors of folder/name and the sha256 of the bytes they were parsed from, which must be
    the sha256 state.json lists for that file, and finite."""
    path = folder / name
    data = read_weights_file(path)
    expected = state.get("sha256", {}).get(name)
    actual = hashlib.sha256(data).hexdigest()
    if expected is None:
        raise CheckpointError(f"{path}: state.json lists no sha256 for it; the checkpoint cannot be checked")
    if actual != expected:
        raise CheckpointError(f"{path}: sha256 {actual[:12]} does not match state.json ({expected[:12]}); "
                              f"the file was damaged or modified after it was written")
    try:
        tensors = load_tensors(data)
    except (SafetensorError, ValueError) as e:
        raise CheckpointError(f"{path}: not a safetensors file ({str(e).splitlines()[0]})") from e
    bad = non_finite_tensors(tensors)
    if bad:
        raise CheckpointError(f"{path}: non-finite values in {', '.join(bad[:3])}")
    return tensors, actual


def read_weights_file(path: Path) -> bytes:
    """The bytes of a weights file: a regular file (a FIFO would block, a device never end) of at
    most MAX_WEIGHTS_FILE_BYTES; CheckpointError naming it otherwise."""
    from nonesuch.data.sources import UnreadableSource, read_regular_file

    try:
        return read_regular_file(path, MAX_WEIGHTS_FILE_BYTES)
    except UnreadableSource as e:
        raise CheckpointError(f"{path}: {e}") from None


def check_checkpoint(folder: Path, names: tuple[str, ...]) -> dict:
    """Raise CheckpointError unless state.json reads and every named file matches its hash."""
    state = read_state(folder)
    for name in names:
        read_checked(folder, name, state)
    return state


TRAINING_FILES = (*(f"{n}.safetensors" for n in WEIGHT_FILES), "optimizers.safetensors")


def newest_good_checkpoint(run_dir: str | Path, names: tuple[str, ...] = TRAINING_FILES,
                           warn: Callable[[str], None] | None = None) -> Path | None:
    """The newest checkpoint whose files all match state.json; None when the run has none at all.

    Each checkpoint passed over is reported through `warn`, one line naming the bad file. When
    checkpoints exist and none of them checks out, that is an error: starting again from scratch
    would silently throw away the run."""
    found = list_checkpoints(run_dir)
    problems = []
    for folder in reversed(found):
        try:
            check_checkpoint(folder, names)
        except CheckpointError as e:
            problems.append(str(e))
            if warn is not None:
                warn(f"skipping checkpoint {folder.name}: {e}")
            continue
        return folder
    if found:
        raise CheckpointError(f"{Path(run_dir) / 'checkpoints'}: none of the {len(found)} checkpoints is intact "
                              f"(newest: {problems[0]}); restore one or use another --out")
    return None


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
    state = read_json_object(folder / "state.json")
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{folder / 'state.json'}: unknown format {state.get('format')!r}, expected {FORMAT}")
    if not isinstance(state.get("sha256", {}), dict) or not isinstance(state.get("stage", {}), dict):
        raise CheckpointError(f"{folder / 'state.json'}: its sha256 and stage must be JSON objects")
    return state


def checked_stage(stage: dict, resolution: int, where: Path) -> tuple[int, float]:
    """(resolution, alpha) of the stage a checkpoint was trained up to (no resolution: the full
    one): a power of two from 4 to the network's resolution, alpha from 0 to 1, else
    CheckpointError naming `where` (sampling would otherwise fail deep inside the network)."""
    try:
        stage_resolution, alpha = int(stage.get("resolution") or resolution), float(stage.get("alpha", 1.0))
        check_range("stage resolution", stage_resolution, 4, resolution)
        check_range("stage alpha", alpha, 0.0, 1.0)
        if stage_resolution & (stage_resolution - 1):
            raise ValueError(f"stage resolution must be a power of two, got {stage_resolution}")
    except (TypeError, ValueError, OverflowError) as e:
        raise CheckpointError(f"{where}: {e}") from None
    return stage_resolution, alpha


def load_weights(module: torch.nn.Module, folder: Path, name: str, state: dict, device: str = "cpu") -> str:
    """Load folder/name (checked against state.json) into `module`; returns the loaded bytes' sha256."""
    tensors, sha256 = read_checked(folder, name, state)
    try:
        module.load_state_dict({k: v.to(device) for k, v in tensors.items()}, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{folder / name}: does not fit this run's networks ({str(e).splitlines()[0]})") from e
    return sha256


def load_training_checkpoint(folder: Path, generator, discriminator, generator_ema, optimizers: dict,
                             device: str = "cpu") -> dict:
    """Restore everything a run needs to continue, every file checked; returns the saved state."""
    state = read_state(folder)
    for name, net in zip(WEIGHT_FILES, (generator_ema, generator, discriminator)):
        load_weights(net, folder, f"{name}.safetensors", state, device)
    tensors, _ = read_checked(folder, "optimizers.safetensors", state)
    try:
        for prefix, optimizer in optimizers.items():
            load_optimizer_tensors(optimizer, prefix, {k: v.to(device) for k, v in tensors.items()},
                                   state["optimizers"][prefix])
    except (KeyError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{folder / 'optimizers.safetensors'}: does not fit this run's optimizers ({e})") from e
    return state


def read_run_config(run_dir: Path) -> dict:
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{run_dir}: not a training run (no config.json); make one with `nonesuch train`")
    return read_json_object(config_path)


def load_generator(run_dir: str | Path, checkpoint: str | Path | None = None, device: str = "cpu",
                   warn: Callable[[str], None] | None = None) -> LoadedGenerator:
    """The EMA generator of a run's newest intact (or the given) checkpoint, ready to sample from.

    The weights file must match the sha256 in its state.json: a given checkpoint that does not is
    an error; without one, damaged newer checkpoints are passed over, each reported through
    `warn` (default: a line on stderr). checkpoint_sha256 is the hash of the bytes loaded.

    generator(z [N, latent_dim] float32 ~ N(0, I), labels [N] int64 or None) -> [N, 3, R, R] in ~[-1, 1].
    A checkpoint taken before training reached full size samples at its own stage and is
    upsampled to R, so callers always get the run's resolution.
    """
    from nonesuch.gan.config import TrainConfig

    run_dir = Path(run_dir)
    config_dict = read_run_config(run_dir)
    try:
        config = TrainConfig.from_dict(config_dict)
        check_network_size(config.arch, config.resolution, config.num_classes)   # before allocating it
        generator = config.make_generator()
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{run_dir / 'config.json'}: incompatible with this version of nonesuch ({e})") from e
    if checkpoint is None:  # the newest intact one; none at all is _checkpoint_folder's error
        from nonesuch.progress import print_warning

        checkpoint = newest_good_checkpoint(run_dir, ("generator_ema.safetensors",), warn or print_warning)
    folder = _checkpoint_folder(run_dir, checkpoint)
    state = read_state(folder)
    stage = checked_stage(state.get("stage", {}), config.resolution, folder / "state.json")
    weights = folder / "generator_ema.safetensors"
    sha256 = load_weights(generator, folder, weights.name, state, device)
    generator.stage_resolution, generator.stage_alpha = stage
    generator.to(device).eval().requires_grad_(False)
    return LoadedGenerator(
        generator=generator, latent_dim=config.arch.latent_dim, resolution=config.resolution,
        class_names=list(config.class_names) if config.conditional else [],
        run_dir=run_dir, checkpoint_path=weights,
        checkpoint_sha256=sha256,
        config=config_dict,
    )
