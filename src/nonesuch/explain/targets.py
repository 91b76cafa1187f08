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
import threading
import time
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
MAX_ONNX_SIDE = 1024         # the images are 32-128 px; a larger input only spends memory
# A run may take this long plus ONNX_SLOWDOWN x what the first run took per image before explain
# gives up on it: generous for a slow but finite graph, finite for one that loops for ever.
ONNX_PROBE_SECONDS = 30.0
ONNX_SLOWDOWN = 20.0


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
    try:
        store = LabelStore(dataset_root)
    except CurateError as error:
        raise ExplainError(f"{spec}: {error}") from None
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
    options = ort.SessionOptions()
    options.log_severity_level = 4           # its errors reach the user as our one line, not a log dump
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:   # onnxruntime raises its own exception types for bad graphs
        raise ExplainError(f"{path}: not a loadable ONNX model ({str(error).splitlines()[0]})") from error
    size, batch_one = _check_onnx_input(path, session.get_inputs())
    input_name = session.get_inputs()[0].name
    unit_index = int(unit)
    seconds_per_image = 0.0                  # until the probe has measured it: the probe gets ONNX_PROBE_SECONDS

    def run(images: np.ndarray) -> np.ndarray:                           # [N, 3, S, S] -> [N, K]
        limit = ONNX_PROBE_SECONDS + ONNX_SLOWDOWN * seconds_per_image * len(images)
        if batch_one:
            return np.concatenate([_run_within(session, {input_name: images[i:i + 1]}, limit, path)
                                   for i in range(len(images))])
        return _run_within(session, {input_name: images}, limit, path)

    # Two images, so a graph that mixes the batch (or fixes it at another size) is caught here,
    # not as a shape error deep in the ascent.
    probe_count = 1 if batch_one else 2
    started = time.perf_counter()
    try:
        probe = run(np.zeros((probe_count, 3, size, size), np.float32))
    except ExplainError:
        raise
    except Exception as error:
        raise ExplainError(f"{path}: fails on a [{probe_count}, 3, {size}, {size}] float32 input "
                           f"({str(error).splitlines()[0]}); expected {ONNX_CONTRACT}") from error
    seconds_per_image = (time.perf_counter() - started) / probe_count
    shape = list(getattr(probe, "shape", ()))
    if (not isinstance(probe, np.ndarray) or probe.dtype.kind not in "fiu" or len(shape) != 2
            or shape[0] != probe_count or not unit_index < shape[1]):
        what = f"a {type(probe).__name__}" if not isinstance(probe, np.ndarray) else f"{probe.dtype} {shape}"
        raise ExplainError(f"{path}: first output is {what} for {probe_count} images; UNIT {unit_index} "
                           f"needs numbers [N, K] with K > {unit_index} ({ONNX_CONTRACT})")

    def head(images: torch.Tensor) -> torch.Tensor:
        x = ((images.detach().clamp(-1, 1) + 1) / 2)
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        scores = run(x.contiguous().numpy().astype(np.float32))[:, unit_index].astype(np.float32)
        if not np.isfinite(scores).all():      # a NaN would turn every code into NaN, silently
            raise ExplainError(f"{path}: output {unit_index} is not a finite number for some images "
                               f"(NaN or infinity); explain needs finite scores")
        return torch.from_numpy(scores)
    return Target(spec, head=head, differentiable=False)


def _run_within(session, feed: dict, seconds: float, path: Path) -> np.ndarray:
    """The first output of one run, or ExplainError once it has run `seconds`: a graph can loop
    for ever (a Loop node with a huge trip count), and onnxruntime stops a run only when asked."""
    import onnxruntime as ort

    options = ort.RunOptions()
    options.log_severity_level = 4
    watchdog = threading.Timer(seconds, lambda: setattr(options, "terminate", True))
    watchdog.start()
    try:
        return session.run(None, feed, options)[0]
    except Exception:
        if options.terminate:
            raise ExplainError(f"{path}: one run took more than {seconds:.0f} s; explain stops rather than "
                               f"wait on a graph that may not end") from None
        raise
    finally:
        watchdog.cancel()


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
    if fixed and not 1 <= fixed[0] <= MAX_ONNX_SIDE:       # a 100,000 px input would take 120 GB
        raise ExplainError(f"{path}: input side {fixed[0]} px; explain feeds 1 to {MAX_ONNX_SIDE} px ({ONNX_CONTRACT})")
    return (fixed[0] if fixed else 224), shape[0] == 1
