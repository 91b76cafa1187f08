"""TrainConfig: everything that decides what a training run does, saved as RUN/config.json.

Re-running `nonesuch train` on an existing RUN resumes it. Options left out are taken from the
saved config; options given must agree with it, except the few that cannot change the weights
(where and how often to report, which device).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from nonesuch.gan.errors import CheckpointError, GanError
from nonesuch.gan.folders import read_json_object
from nonesuch.gan.presets import PRESETS, Architecture, architecture
from nonesuch.gan.schedule import Schedule

LOSSES = ("wgan-gp", "ns-r1")
# Options a resumed run may change: they decide reporting and placement, not the trajectory.
# threads is changeable but not free: it changes the order of sums in every convolution, so the
# run takes a (slightly) different path from there; train logs the change and saves the new count.
CHANGEABLE_ON_RESUME = {"device", "snapshot_kimg", "metric_images", "keep_checkpoints", "amp", "progress",
                        "threads", "device_used"}


# Upper ends for a new run's numbers: far past any real run, low enough that a typo is refused
# before it allocates (`--batch 10**12` asked for 4 TB) or schedules a run that never ends.
MAX_BATCH = 1024
MAX_KIMG = 100_000.0       # per phase; the paper's longest is 600
# One image: --kimg 1e-300 trained nothing and reported the run done, and --snapshot-kimg 1e-300
# wrote a checkpoint at every step.
MIN_KIMG = 0.001
# The lazy penalty is weighted by its interval, so a huge one is a single kick of weight
# gp_weight x interval at step 0: --gp-interval 10**30 trained the smoke run to NaN and left no
# intact checkpoint. StyleGAN2 regularises every 16 steps; 1000 is far past any use.
MAX_PENALTY_INTERVAL = 1000
# Adam steps of size lr: ProGAN uses 1e-3, StyleGAN 2.5e-3; --lr 1e308 overflowed inside the
# optimizer, a traceback after the run folder was made.
MAX_LR = 1.0
# LeCam's weights in its paper are 0.01 to 0.3; --lecam 1e308 trained to NaN before saying so.
MAX_LECAM = 100.0
MAX_AUGMENT_TARGET = 0.99


class TrainError(GanError):
    """Bad input to training; the message names the file or option and what to do."""


def check_given_numbers(options: dict) -> None:
    """TrainError for a number given on the command line that no run can use (None: not given),
    before anything is read or written. What needs the dataset (--resolution, --attention) or a
    combination (--batch over processes) is validate()'s, in train.py."""
    from nonesuch.bounds import check_positive, check_range
    from nonesuch.cpus import check_cpu_count
    from nonesuch.data.dataset import MAX_RESOLUTION, MIN_RESOLUTION
    from nonesuch.generate.sampling import MAX_SEED
    from nonesuch.metrics.evaluate import MAX_GENERATED

    checks = {
        "kimg": lambda v: check_range("--kimg", v, MIN_KIMG, MAX_KIMG),
        "batch": lambda v: check_range("--batch", v, 4, MAX_BATCH),
        "resolution": lambda v: check_range("--resolution", v, MIN_RESOLUTION, MAX_RESOLUTION, " px"),
        "lr": lambda v: check_positive("--lr", v, MAX_LR),
        "lecam": lambda v: check_range("--lecam", v, 0.0, MAX_LECAM),
        "gp_interval": lambda v: check_range("--gp-interval", v, 1, MAX_PENALTY_INTERVAL),
        # Past a phase's length a snapshot comes only at the end; 1e308 overflowed int(kimg * 1000).
        "snapshot_kimg": lambda v: check_range("--snapshot-kimg", v, MIN_KIMG, MAX_KIMG),
        "metric_images": lambda v: check_range("--metric-images", v, 0, MAX_GENERATED),
        "keep_checkpoints": lambda v: check_range("--keep", v, 1),
        "seed": lambda v: check_range("--seed", v, 0, MAX_SEED),
        # A chance, and the overfitting statistic r = E[sign(D(real))], which is 1 at most: ADA aims
        # at 0.6, and a target of 1 or more would push the augmentation up without end.
        "augment_p": lambda v: check_range("--augment-p", v, 0.0, 1.0),
        "augment_target": lambda v: check_range("--augment-target", v, 0.0, MAX_AUGMENT_TARGET),
        "threads": lambda v: check_cpu_count("--threads", v),
    }
    try:
        for key, check in checks.items():
            if options.get(key) is not None:
                check(options[key])
    except ValueError as e:
        raise TrainError(str(e)) from None


@dataclass
class TrainConfig:
    dataset: str                       # dataset folder (resolved path)
    out: str                           # run folder
    preset: str = "cpu"                # architecture name, see presets.py
    architecture: dict = field(default_factory=dict)  # the preset, resolved and frozen into the run
    resolution: int = 0                # final px; 0 = the dataset's resolution
    attention: list[int] = field(default_factory=list)  # resolutions with self-attention, in G and D
    conditional: bool = False          # class-conditional on the dataset's labels
    class_names: list[str] = field(default_factory=list)  # class index i = class_names[i]
    loss: str = "wgan-gp"              # "wgan-gp" (+ drift, the paper's) or "ns-r1"
    kimg: float = 30.0                 # thousands of real images per fade and per stabilisation
                                       # (a new run takes its preset's default)
    batch: int = 16                    # global minibatch (split over processes under torchrun)
    lr: float = 1e-3                   # Adam, both networks (paper)
    betas: tuple[float, float] = (0.0, 0.99)  # Adam (paper)
    gp_weight: float = 10.0            # WGAN-GP lambda
    drift: float = 1e-3                # ProGAN's epsilon drift on real scores
    gp_interval: int = 4               # lazy GP: every this many D steps, weight x interval (1 = paper);
                                       # 4 is ~1.2-1.4x faster per step on CPU, same expected penalty
    r1_gamma: float = 10.0             # R1 weight for ns-r1
    r1_interval: int = 16              # lazy R1: every this many D steps, weight x interval
    lecam: float = 0.0                 # LeCam regularisation weight on D (0 = off); its anchors are
                                       # moving averages of D's scores, kept in the checkpoint
    lecam_decay: float = 0.99          # the anchors' EMA decay per step (the LeCam paper's)
    ema_kimg: float = 10.0             # EMA half-life, thousands of images
    ema_rampup: float | None = 0.05    # cap the half-life at this fraction of images seen
    mirror: bool = True                # random horizontal flips of reals
    augment: str = "off"               # DiffAugment ops on everything D sees: "color,translation,cutout",
                                       # a subset, "auto" (all three below 10k images) or "off". Off by
                                       # default until bench_quality shows a win: on the smileys at equal
                                       # images it lowered recall (0.003 vs 0.035) and raised KID (51 vs 37)
    augment_p: float = 1.0             # chance each op is applied to each image (the start value if adaptive)
    augment_target: float = 0.0        # > 0: adapt p so D's overfitting statistic r stays at this (ADA: 0.6)
    augment_speed_kimg: float = 100.0  # adaptive p can cross [0, 1] in this many kimg
    snapshot_kimg: float = 4.0         # grid + checkpoint (+ metric) every this many kimg
    metric_images: int = 0             # FID/KID sample size per snapshot; 0 = off
    keep_checkpoints: int = 3          # keep the last K checkpoints
    grid_size: int = 64                # samples in each snapshot grid
    seed: int = 0
    dataset_fingerprint: str = ""      # Dataset.fingerprint() when the run started: a resume refuses another
    init_from: str = ""                # fine-tune: the run or shipped generator whose G, D, EMA start this run
    init_sha256: dict = field(default_factory=dict)  # hashes of the weights it started from
    device: str = "auto"               # "auto", "cpu", "cuda", "cuda:1"
    amp: str = "auto"                  # "auto" (bf16 on CUDA and on CPUs with bf16 kernels), "bf16", "fp16", "off"
    progress: bool = True              # rich progress line on a terminal
    threads: int = 0                   # CPU threads per process; 0 = auto (OMP_NUM_THREADS, else every CPU
                                       # this process may use), resolved at the start and saved, since the
                                       # count is part of the trajectory: a resume reuses it
    device_used: str = ""              # the device the latest start actually ran on ("cpu", "cuda:0"),
                                       # written at each start; "device" is what was asked for

    @property
    def arch(self) -> Architecture:
        a = self.architecture or asdict(architecture(self.preset))
        return Architecture(a["name"], a["latent_dim"], tuple(a["channels"]))

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.conditional else 0

    @property
    def schedule(self) -> Schedule:
        images = int(round(self.kimg * 1000))
        return Schedule(self.resolution, fade_images=images, stable_images=images, grown=bool(self.init_from))

    def make_generator(self):
        from nonesuch.gan.networks import ProgressiveGenerator
        return ProgressiveGenerator(self.arch, self.resolution, self.num_classes, tuple(self.attention))

    def make_discriminator(self):
        from nonesuch.gan.networks import ProgressiveDiscriminator
        return ProgressiveDiscriminator(self.arch, self.resolution, self.num_classes, tuple(self.attention))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        data = dict(data)
        data.setdefault("augment", "off")  # runs from before augmentation existed trained without it
        if "betas" in data:
            data["betas"] = tuple(data["betas"])
        return cls(**data)


def _normalise(value):
    return list(value) if isinstance(value, (tuple, list)) else value


def _fine_tuning_config(dataset, out, options: dict) -> TrainConfig:
    """A new run that starts from another run's weights: it inherits what the weights fix."""
    from nonesuch.gan import init_from

    try:
        source = init_from.find_source(options["init_from"])
        inherited = init_from.inherited_options(source)
    except (init_from.InitError, KeyError) as e:
        raise TrainError(f"--init-from {options['init_from']}: {e}") from e
    bad = init_from.conflicting(options, inherited)
    if bad:
        raise TrainError(f"--init-from {source.description}: cannot change {', '.join(bad)}; drop those options")
    options = {**options, **inherited, "init_from": source.description, "init_sha256": source.sha256()}
    options.setdefault("kimg", architecture(inherited["preset"]).kimg if inherited["preset"] in PRESETS else 30.0)
    return TrainConfig(dataset=str(Path(dataset).resolve()), out=str(out), **options)


def resolve_config(dataset: str | Path, out: str | Path, options: dict, resume: bool = False) -> TrainConfig:
    """The run's config: the saved one for an existing RUN (options must agree with it), else a
    new one from the options. `options` holds only what the user gave (None = not given)."""
    options = {k: v for k, v in options.items() if v is not None}
    config_path = Path(out) / "config.json"
    if not config_path.exists():     # a FIFO or a link to a device is read, and refused
        if resume:
            raise TrainError(f"{config_path}: nothing to resume (no config.json); drop --resume to start a run")
        if options.get("preset", "cpu") not in PRESETS:
            raise TrainError(f"unknown --preset {options['preset']!r}; choose one of {', '.join(PRESETS)}")
        if options.get("init_from"):
            return _fine_tuning_config(dataset, out, options)
        preset = architecture(options.get("preset", "cpu"))
        options.setdefault("kimg", preset.kimg)
        config = TrainConfig(dataset=str(Path(dataset).resolve()), out=str(out), **options)
        config.architecture = {k: v for k, v in asdict(preset).items() if k != "kimg"}
        return config
    try:
        saved = TrainConfig.from_dict(read_json_object(config_path))
    except CheckpointError as e:        # not a regular file, too large, not a JSON object
        raise TrainError(f"{e}; use another --out") from None
    except (ValueError, TypeError) as e:
        raise TrainError(f"{config_path}: not a config this version can resume ({e}); use another --out") from e
    if str(Path(dataset).resolve()) != saved.dataset:
        raise TrainError(f"{config_path}: this run trains on {saved.dataset}, not {Path(dataset).resolve()}; "
                         f"use another --out")
    if options.get("init_from"):  # the same source named another way (relative path, name) is the same
        from nonesuch.gan.init_from import InitError, find_source
        try:
            options["init_from"] = find_source(options["init_from"]).description
        except InitError as e:
            raise TrainError(f"--init-from {options['init_from']}: {e}") from e
    for key, value in options.items():
        if key not in CHANGEABLE_ON_RESUME and _normalise(value) != _normalise(getattr(saved, key)):
            raise TrainError(f"{config_path}: cannot resume with {key}={value!r}, the run was started with "
                             f"{key}={getattr(saved, key)!r}; use another --out for a new run")
    return replace(saved, out=str(out), **{k: v for k, v in options.items() if k in CHANGEABLE_ON_RESUME})



def config_needs_saving(config_path: Path, config: TrainConfig) -> bool:
    """True for a new run, and for a resumed one whose thread count is not the saved one (a run
    saved before threads were recorded, or --threads given anew), which is said on stderr: the
    count is part of the trajectory, so the run must know which one it continues with."""
    if not config_path.is_file():
        return True
    try:
        saved = read_json_object(config_path).get("threads", 0)
    except CheckpointError:
        return False  # resolve_config has already refused a config it cannot read
    if saved == config.threads:
        return False
    from nonesuch.progress import console

    before = f"{saved} threads" if saved else "a thread count that was not recorded"
    console.print(f"threads: the run trained with {before}, continuing with {config.threads}; "
                  f"from here it takes a slightly different path than it would have", soft_wrap=True, highlight=False)
    return True
