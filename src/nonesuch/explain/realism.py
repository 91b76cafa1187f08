"""The realism prior: the run's own discriminator as one more term of the objective.

Climbing a classifier's unit through the generator keeps the images inside what the generator
can draw, but not inside what the data looks like: on smileys64 the box code reached the unit
on 90 % of runs while the discriminator rated most outputs below nearly every real smiley and
their KID was ~5x that of plain samples (README "7. explain"). DGN-AM's only prior is the
generator; Plug & Play Generative Networks (Nguyen et al. 2017) add an explicit image prior
term to the same ascent. A GAN run already has a prior of its own, the critic that trained the
generator, but D is no density: rewarding its score without bound (the first version of this
file) climbed into what D scores highest, dark smears no smiley looks like. So D is a floor:

    objective(x) = sum_i w_i * standardised target_i(x) + realism * min(0, standardised D(x))

with D standardised like every target (mean and std over the same random samples): an output
is penalised only for looking less real to D than a typical random sample, never rewarded for
more. D is what the optimisation sees; whether the outputs really stay like the data is checked
by what it does not see (benchmarks/bench_explain.py: KID in Inception space, an independent probe).

Runs and exported generators that can seed fine-tuning carry D (shipped ones do); others have
none, and asking for the prior there is a one-line error.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nonesuch.explain.errors import ExplainError
from nonesuch.explain.targets import Target

REALISM_SPEC = "realism:discriminator"


def load_discriminator(generator):
    """The discriminator saved with `generator` (a loaded gan.generator.Generator): from the same
    checkpoint for a RUN, from the folder for an exported one. In eval mode on the CPU; None when
    there is none (an export for sampling only, or a conditional run)."""
    from nonesuch.gan.checkpoint import list_checkpoints, load_weights
    from nonesuch.gan.init_from import InitError, find_source, inherited_options
    from nonesuch.gan.networks import ProgressiveDiscriminator
    from nonesuch.gan.presets import Architecture
    from nonesuch.hashing import file_sha256

    try:
        source = find_source(str(generator.folder))
    except InitError:
        return None
    options = inherited_options(source)
    if options["conditional"]:
        return None                     # explain draws unconditional generators only
    weights = source.weights / "discriminator.safetensors"
    same_checkpoint = [c for c in list_checkpoints(generator.folder) if c.name == generator.info.checkpoint]
    if same_checkpoint:                 # a RUN: D from the checkpoint G was loaded from, not the latest
        weights = same_checkpoint[0] / "discriminator.safetensors"
    a = options["architecture"]
    d = ProgressiveDiscriminator(Architecture(a["name"], a["latent_dim"], tuple(a["channels"])),
                                 options["resolution"], 0, tuple(options["attention"]))
    load_weights(d, weights.parent, weights.name, {"sha256": {weights.name: file_sha256(weights)}})
    return d.eval().requires_grad_(False)


def realism_target(generator) -> Target:
    """D's score as a Target: images [N, 3, R, R] in [-1, 1] at the generator's output size -> [N],
    seen at the stage G was trained to (a checkpoint from before full size: D's resolution and
    fade), as D saw images in training."""
    d = load_discriminator(generator)
    if d is None:
        raise ExplainError(f"{generator.folder}: has no discriminator to use as the realism prior (runs "
                           f"and exported generators that can seed fine-tuning carry one); use --realism 0")
    stage = generator.info.stage or {}
    resolution = int(stage.get("resolution") or generator.resolution)
    alpha = float(stage.get("alpha", 1.0))

    def head(images: torch.Tensor) -> torch.Tensor:
        images = images.float()
        if images.shape[-1] > resolution:   # G upsampled its stage's output to full size: undo it
            images = F.adaptive_avg_pool2d(images, resolution)
        return d(images, None, alpha).reshape(-1)
    return Target(REALISM_SPEC, head)
