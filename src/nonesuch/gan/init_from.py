"""Fine-tuning: start a new run from another run's (or a shipped generator's) G, D and EMA.

The top request of small-data users (research/next-wave.md D5): a generator that already knows
shapes and colours learns a new set of a few hundred images in a fraction of the time. The new
run takes the source's architecture, resolution, attention and conditioning, starts fully grown
(no progressive phases: the source already went through them) with fresh Adam moments, and
records which weights it started from (path and sha256) in its config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from nonesuch.gan import checkpoint
from nonesuch.gan.folders import read_json_object
from nonesuch.hashing import file_sha256

NETWORKS = ("generator", "discriminator", "generator_ema")


class InitError(Exception):
    """A source that cannot seed a run; the message names it and the problem."""


@dataclass
class InitSource:
    description: str            # what the user named, resolved (a path or a shipped name)
    weights: Path               # folder holding generator / discriminator / generator_ema .safetensors
    training: dict              # the source's training config (architecture, resolution, attention, classes)

    def sha256(self) -> dict[str, str]:
        return {name: file_sha256(self.weights / f"{name}.safetensors") for name in NETWORKS}


def find_source(name_or_path: str) -> InitSource:
    """A run folder, an exported generator folder, or the name of a shipped generator."""
    path, description = Path(name_or_path), str(Path(name_or_path).resolve())
    if not path.exists():
        shipped = Path(__file__).resolve().parent.parent / "pretrained" / name_or_path
        if not shipped.is_dir():
            raise InitError(f"{name_or_path}: no such run folder or shipped generator")
        path, description = shipped, name_or_path  # a name, so the run's config holds no install path
    weights = _weights_folder(path)
    missing = [n for n in NETWORKS if not (weights / f"{n}.safetensors").is_file()]
    if missing:
        raise InitError(f"{path}: has no {', '.join(missing)} weights, so it cannot seed fine-tuning "
                        f"(a generator exported for sampling only); start from a full run folder")
    return InitSource(description, weights, _training_config(path))


def _weights_folder(path: Path) -> Path:
    if (path / "discriminator.safetensors").is_file():
        return path
    folder = checkpoint.latest_checkpoint(path)
    if folder is None:
        raise InitError(f"{path}: holds no checkpoint to start from")
    return folder


def _training_config(path: Path) -> dict:
    for name in ("config.json", "generator.json"):
        if (path / name).is_file():
            try:
                return read_json_object(path / name)       # bounded: no 2 GB or endless file in memory
            except checkpoint.CheckpointError as e:
                raise InitError(str(e)) from None
    raise InitError(f"{path}: no config.json or generator.json beside the weights")


def inherited_options(source: InitSource) -> dict:
    """What the new run must share with its source to load its weights."""
    t = source.training  # a run's config.json, or an exported generator.json (no "conditional" key)
    try:                 # the file is the source's, not ours: any value may be of the wrong kind
        conditional = bool(t.get("conditional", bool(t.get("class_names"))))
        if not isinstance(t["architecture"], dict):
            raise TypeError(f"architecture is a {type(t['architecture']).__name__}, not an object")
        return {"architecture": t["architecture"], "preset": t["architecture"].get("name", t.get("preset", "cpu")),
                "resolution": int(t["resolution"]), "attention": list(t.get("attention", [])),
                "conditional": conditional, "class_names": list(t.get("class_names", [])) if conditional else []}
    except (KeyError, TypeError, ValueError) as error:
        raise InitError(f"{source.description}: its config cannot seed a run ({type(error).__name__}: "
                        f"{str(error)[:120]})") from None


def load_source_weights(source: InitSource, generator, discriminator, generator_ema, device,
                        expected_sha256: dict[str, str]) -> None:
    """Each network from the bytes whose sha256 is `expected_sha256[name]` (recorded in the run's
    config when it was created), parsed from exactly the bytes that were hashed."""
    state = {"sha256": {f"{name}.safetensors": sha for name, sha in expected_sha256.items()}}
    for name, net in zip(NETWORKS, (generator, discriminator, generator_ema)):
        try:
            checkpoint.load_weights(net, source.weights, f"{name}.safetensors", state, str(device))
        except checkpoint.CheckpointError as e:
            raise InitError(str(e)) from e


def conflicting(options: dict, inherited: dict) -> list[str]:
    """Options the user gave that disagree with the source's (which cannot change)."""
    bad = []
    for key in ("preset", "resolution", "attention", "conditional"):
        if options.get(key) is not None and _same(options[key]) != _same(inherited[key]):
            bad.append(f"{key}={options[key]!r} (the source has {inherited[key]!r})")
    return bad


def _same(value):
    return list(value) if isinstance(value, (list, tuple)) else value

