"""What explain drives up (or down): one unit of a classifier, named by a spec string.

    imagenet:lemon            EfficientNet-Lite0's ImageNet logit (a name from imagenet_classes.txt
                              or an index 0-999), through the torch network so gradients flow
    curate:DATASET:TARGET     the logit of a curation target's linear classifier over Lite0
                              features, refitted from the dataset's labels (what "keep" means to it)
    onnx:MODEL.onnx:UNIT      output UNIT of a user's own ONNX classifier (contract: ONNX_CONTRACT)

Every target is a head over a backbone: Lite0 targets share one backbone, so two of them cost one
network pass. A target maps images [N, 3, R, R] in [-1, 1] (the generator's output) to scores [N],
the pre-softmax value, as DGN-AM optimises fc8 units, not probabilities that saturate.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from nonesuch.explain.errors import ExplainError

SPEC_FORMS = "imagenet:CLASS, curate:DATASET:TARGET or onnx:MODEL.onnx:UNIT"
ONNX_CONTRACT = ("one float32 input [N, 3, S, S] (NCHW, RGB, values in [0, 1], S fixed or dynamic; "
                 "dynamic gets 224), first output [N, K] scores, UNIT an index into K")


@dataclass
class Target:
    spec: str                                             # as the user wrote it
    head: Callable[[torch.Tensor], torch.Tensor]          # backbone output -> [N] scores
    backbone: Callable[[torch.Tensor], torch.Tensor] | None = None   # images -> what head reads
    differentiable: bool = True                           # False: ONNX, gradients are estimated

    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """images [N, 3, R, R] in [-1, 1] -> [N] float32."""
        return self.head(images if self.backbone is None else self.backbone(images))


def parse_target(spec: str, classifier_size: int = 128) -> Target:
    kind, _, rest = spec.partition(":")
    if kind == "imagenet" and rest:
        return imagenet_target(spec, rest, classifier_size)
    if kind == "curate" and ":" in rest:
        dataset, target = rest.rsplit(":", 1)
        return curate_target(spec, Path(dataset), target, classifier_size)
    if kind == "onnx" and ":" in rest:
        model, unit = rest.rsplit(":", 1)
        return onnx_target(spec, Path(model), unit)
    raise ExplainError(f"--target {spec!r}: not a target; use {SPEC_FORMS}")


# -- the Lite0 backbone ------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _lite0_network():
    from nonesuch.curate.embed import load_torch_network

    return load_torch_network().requires_grad_(False)


@functools.lru_cache(maxsize=None)
def lite0_backbone(size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """images [N, 3, R, R] in [-1, 1] -> pooled features [N, 1280]. Lite0 was trained on
    (rgb01 - 0.5) / 0.5, which is the generator's own [-1, 1] range: no other normalisation.
    Clamped first because the written image is; resized bilinearly (differentiable) to `size`."""
    network = _lite0_network()

    def features(images: torch.Tensor) -> torch.Tensor:
        x = images.clamp(-1, 1)
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return network.extract_features(x).mean((2, 3))
    return features


@functools.lru_cache(maxsize=None)
def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names in logit order (torchvision's list, one a line)."""
    return tuple((Path(__file__).with_name("imagenet_classes.txt")).read_text().splitlines())


def imagenet_index(name: str) -> int:
    classes = imagenet_classes()
    if name.isdigit():
        if int(name) < len(classes):
            return int(name)
        raise ExplainError(f"imagenet:{name}: class index must be 0-{len(classes) - 1}")
    key = name.strip().lower().replace("_", " ")
    lowered = [c.lower() for c in classes]
    if key in lowered:
        return lowered.index(key)
    close = difflib.get_close_matches(key, lowered, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else " (see explain/imagenet_classes.txt)"
    raise ExplainError(f"imagenet:{name}: not an ImageNet class name{hint}")


def imagenet_target(spec: str, name: str, classifier_size: int) -> Target:
    index = imagenet_index(name)
    fc = _lite0_network()._fc
    return Target(spec, head=lambda f: fc(f)[:, index], backbone=lite0_backbone(classifier_size))


# -- a curation target's classifier -----------------------------------------------------------

def curate_target(spec: str, dataset_root: Path, name: str, classifier_size: int) -> Target:
    """The curation classifier of `name`, fitted on the dataset's labels exactly as curate fits it
    (classifier.py), as a torch head: standardise with the dataset's embedding statistics,
    length-normalise, then w.x + b, the logit whose sigmoid is the keep probability."""
    from nonesuch.curate.classifier import can_fit, classifier_features, fit_classifier
    from nonesuch.curate.embed import load_embeddings
    from nonesuch.curate.errors import CurateError
    from nonesuch.curate.labels import LabelStore
    from nonesuch.data import Dataset
    from nonesuch.data.dataset import DatasetError

    if not (dataset_root / "labels.sqlite").is_file():
        raise ExplainError(f"{spec}: {dataset_root} has no labels (labels.sqlite); label a target "
                           f"with `nonesuch curate label {dataset_root}` first")
    try:
        dataset = Dataset(dataset_root)
        embeddings = load_embeddings(dataset)
    except (DatasetError, CurateError) as error:
        raise ExplainError(f"{spec}: {error}") from error
    store = LabelStore(dataset_root)
    try:
        indices, keep = store.training_set(name)
        known = store.targets()
    finally:
        store.close()
    if not can_fit(keep):
        raise ExplainError(f"{spec}: target {name!r} of {dataset_root} needs both keep and discard "
                           f"labels (targets there: {', '.join(known) or 'none'})")
    raw = np.asarray(embeddings.features, dtype=np.float32)                 # [N, 1280]
    model = fit_classifier(classifier_features(raw)[indices], keep)
    mean, std = torch.from_numpy(raw.mean(0)), torch.from_numpy(raw.std(0) + 1e-6)
    weights = torch.from_numpy(model.coef_[0].astype(np.float32))          # [1280]
    bias = float(model.intercept_[0])

    def logit(features: torch.Tensor) -> torch.Tensor:                     # [N, 1280] -> [N]
        x = (features - mean) / std
        x = x * (x.shape[1] ** 0.5 / (x.norm(dim=1, keepdim=True) + 1e-6))
        return x @ weights + bias
    return Target(spec, head=logit, backbone=lite0_backbone(classifier_size))


# -- a user's ONNX classifier -----------------------------------------------------------------

def onnx_target(spec: str, path: Path, unit: str) -> Target:
    """Scores from ONNX Runtime. No gradients come out of it, so explain estimates them
    (optimise.py, zeroth order) rather than converting the graph to torch: a converter covers a
    subset of ops and would add torchvision as a dependency; ONNX Runtime runs any valid graph."""
    import onnxruntime as ort

    if not path.is_file():
        raise ExplainError(f"{path}: no such ONNX file")
    if not unit.isdigit():
        raise ExplainError(f"{spec}: UNIT must be an output index (a number), not {unit!r}")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:   # onnxruntime raises its own exception types for bad graphs
        raise ExplainError(f"{path}: not a loadable ONNX model ({str(error).splitlines()[0]})") from error
    size, batch_one = _check_onnx_input(path, session.get_inputs())
    input_name = session.get_inputs()[0].name
    unit_index = int(unit)

    def run(images: np.ndarray) -> np.ndarray:                           # [N, 3, S, S] -> [N, K]
        if batch_one:
            return np.concatenate([session.run(None, {input_name: images[i:i + 1]})[0]
                                   for i in range(len(images))])
        return session.run(None, {input_name: images})[0]

    try:
        probe = run(np.zeros((1, 3, size, size), np.float32))
    except Exception as error:
        raise ExplainError(f"{path}: fails on a [1, 3, {size}, {size}] float32 input "
                           f"({str(error).splitlines()[0]}); expected {ONNX_CONTRACT}") from error
    if probe.ndim != 2 or not unit_index < probe.shape[1]:
        raise ExplainError(f"{path}: first output has shape {list(probe.shape)}; UNIT {unit_index} "
                           f"needs [N, K] with K > {unit_index} ({ONNX_CONTRACT})")

    def head(images: torch.Tensor) -> torch.Tensor:
        x = ((images.detach().clamp(-1, 1) + 1) / 2)
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return torch.from_numpy(run(x.contiguous().numpy().astype(np.float32))[:, unit_index].copy())
    return Target(spec, head=head, differentiable=False)


def _check_onnx_input(path: Path, inputs) -> tuple[int, bool]:
    """(input side S, whether the batch dimension is fixed at 1), or an error saying what is wrong."""
    if len(inputs) != 1:
        raise ExplainError(f"{path}: has {len(inputs)} inputs; explain needs {ONNX_CONTRACT}")
    shape, kind = inputs[0].shape, inputs[0].type
    if kind != "tensor(float)" or len(shape) != 4 or shape[1] != 3:
        raise ExplainError(f"{path}: input {inputs[0].name!r} is {kind} {shape}; explain needs "
                           f"{ONNX_CONTRACT}")
    height, width = shape[2], shape[3]
    fixed = [s for s in (height, width) if isinstance(s, int)]
    if len(fixed) == 2 and height != width:
        raise ExplainError(f"{path}: input is {height}x{width}; explain needs a square input ({ONNX_CONTRACT})")
    return (fixed[0] if fixed else 224), shape[0] == 1
