"""What a generator folder is, and where the shipped ones live; no torch here, so the web
stage and the CLI can tell a RUN from a site without loading a network.

An exported generator folder holds generator.json (GeneratorInfo below) beside its weights (see
export.py); a training RUN holds config.json and checkpoints/. A shipped generator is an exported
folder inside the package, nonesuch/pretrained/<name>/, and every command that takes a RUN takes
its name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from nonesuch.gan.errors import CheckpointError

FORMAT = "nonesuch-generator/1"
INFO_FILE = "generator.json"
WEIGHTS = "generator_ema.safetensors"            # what every image is made from
FINE_TUNING_WEIGHTS = ("generator.safetensors", "discriminator.safetensors")   # optional
# generator.json, config.json and state.json are a few kB (a conditional run's class names, tens);
# a bound keeps a 2 GB sparse file or a link to /dev/zero from being read into memory.
MAX_JSON_FILE_BYTES = 16 << 20


@dataclass
class GeneratorInfo:
    """What a generator is, as generator.json says: enough to rebuild and credit it, nothing about
    how it was trained (no learning rates, no paths of the machine it was trained on)."""
    name: str
    architecture: dict                   # {"name", "latent_dim", "channels": [C4, C8, ...]}
    resolution: int                      # output side in px
    attention: list[int] = field(default_factory=list)    # resolutions with self-attention
    class_names: list[str] = field(default_factory=list)  # [] unconditional; label i = class_names[i]
    stage: dict = field(default_factory=lambda: {"resolution": 0, "alpha": 1.0})  # trained up to
    checkpoint: str = ""                 # the checkpoint it came from, e.g. "000210000"
    images_seen: int = 0
    trained_on: dict = field(default_factory=dict)    # {"dataset", "images", "licence", "attribution"}
    scores: dict = field(default_factory=dict)        # {"fid", "kid", "metric_images", ...}; may be {}
    files: dict = field(default_factory=dict)         # file name -> sha256; only EMA is required
    format: str = FORMAT
    nonesuch_version: str = ""

    @property
    def latent_dim(self) -> int:
        return int(self.architecture["latent_dim"])

    @classmethod
    def from_dict(cls, data: dict) -> "GeneratorInfo":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict:
        data = asdict(self)
        return {"format": data.pop("format"), "nonesuch_version": data.pop("nonesuch_version"), **data}



def pretrained_folder() -> Path:
    """Where the generators that ship inside the package live."""
    return Path(str(resources.files("nonesuch") / "pretrained"))


def shipped_names() -> list[str]:
    """The shipped generators' names, read from the folder names alone (nothing to parse)."""
    return [folder.name for folder in sorted(pretrained_folder().iterdir()) if (folder / INFO_FILE).is_file()]


def list_generators() -> list[GeneratorInfo]:
    """The shipped generators, by name."""
    return [read_info(pretrained_folder() / name) for name in shipped_names()]


def is_generator(source: str | Path) -> bool:
    """True for a shipped generator's name, an exported generator folder or a training RUN."""
    try:
        folder = generator_folder(source)
    except CheckpointError:
        return False
    return (folder / INFO_FILE).is_file() or is_run(folder)


def is_run(folder: Path) -> bool:
    """A training run folder: config.json and checkpoints/."""
    return (folder / "config.json").is_file() and (folder / "checkpoints").is_dir()


def generator_folder(source: str | Path) -> Path:
    """The folder `source` names: a path (returned as is: whoever opens it names what is
    missing), or a bare name that is not a folder here, which must be a shipped generator's."""
    path = Path(source)
    if path.exists() or path.name != str(source):
        return path
    shipped = pretrained_folder() / str(source)
    if (shipped / INFO_FILE).is_file():
        return shipped
    names = ", ".join(shipped_names())
    raise CheckpointError(f"{source}: no such folder, and not the name of a shipped generator "
                          f"({names})")


def read_info(folder: Path) -> GeneratorInfo:
    path = Path(folder) / INFO_FILE
    data = read_json_object(path)
    if data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown format {data.get('format')!r}, expected {FORMAT}")
    try:
        info = GeneratorInfo.from_dict(data)
    except TypeError as error:           # a required key missing
        raise CheckpointError(f"{path}: incomplete ({error})") from error
    for key in ("architecture", "stage", "trained_on", "scores", "files"):
        if not isinstance(getattr(info, key), dict):
            raise CheckpointError(f"{path}: {key} must be a JSON object, got {getattr(info, key)!r:.40}")
    return info


def read_json_object(path: Path) -> dict:
    """The JSON object in the regular file `path`, read with a size bound (no FIFO that blocks, no
    endless device, no nesting deep enough to crash the parser); CheckpointError otherwise."""
    from nonesuch.data import sources

    try:
        return sources.read_json_object(path, MAX_JSON_FILE_BYTES)
    except sources.UnreadableSource as error:
        raise CheckpointError(f"{path}: {error}") from None
