"""The backbone: ONNX equals torch, embeddings are sane, bad files are reported, EXIF is applied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.assist.backbone import EMBED_DIM, Backbone, decode_image, load_torch_model, preprocess
from core.config import default_paths, shared_datasets

FLOWERS = shared_datasets() / "flowers"
CLASSES = ["daisy", "dandelion", "rose", "sunflower", "tulip"]


def _flower_paths(per_class: int) -> tuple[list[Path], np.ndarray]:
    if not FLOWERS.is_dir():
        pytest.skip(f"shared flowers dataset absent at {FLOWERS}")
    paths: list[Path] = []
    labels: list[int] = []
    for k, name in enumerate(CLASSES):
        files = sorted((FLOWERS / name).glob("*.jpg"))[:per_class]
        paths += files
        labels += [k] * len(files)
    return paths, np.array(labels)


@pytest.fixture(scope="module")
def assist_bb_onnx() -> Backbone:
    return Backbone.load(cache_dir=default_paths().models, engine="onnx")


def test_onnx_matches_torch_on_real_photos(assist_bb_onnx: Backbone) -> None:
    paths, _ = _flower_paths(2)
    images = np.stack([decode_image(p) for p in paths])
    got = assist_bb_onnx.embed_array(images)
    model = load_torch_model(assist_bb_onnx.spec.weights_path)
    with torch.inference_mode():
        want = model(torch.from_numpy(preprocess(images))).numpy()
    assert got.shape == (len(paths), EMBED_DIM)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-3, rtol=1e-3)
    assert float(np.abs(got - want).max()) < 1e-3 * float(np.abs(want).max())


def test_embeddings_separate_flower_classes(assist_bb_onnx: Backbone) -> None:
    """Leave-one-out 1-NN on 20 photos a class: far above the 20 % of chance."""
    paths, labels = _flower_paths(20)
    vecs = assist_bb_onnx.embed_paths(paths, batch_size=16)
    assert not np.isnan(vecs).any()
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    acc = float((labels[sims.argmax(1)] == labels).mean())
    assert acc > 0.7, acc


def test_bad_files_are_reported_not_fatal(assist_bb_onnx: Backbone, tmp_path: Path) -> None:
    paths, _ = _flower_paths(1)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    listed = [paths[0], broken, tmp_path / "missing.png", paths[1]]
    errors: list[tuple[int, str]] = []
    progress: list[tuple[int, int]] = []
    vecs = assist_bb_onnx.embed_paths(
        listed,
        batch_size=3,
        on_error=lambda i, p, m: errors.append((i, m)),
        progress_cb=lambda d, t: progress.append((d, t)),
    )
    assert [i for i, _ in errors] == [1, 2]
    assert np.isnan(vecs[1]).all() and np.isnan(vecs[2]).all()
    assert np.isfinite(vecs[[0, 3]]).all()
    assert progress[-1] == (4, 4)
    one = assist_bb_onnx.embed_paths([paths[1]])
    np.testing.assert_allclose(vecs[3], one[0], atol=1e-4)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = np.zeros((60, 120, 3), np.uint8)
    pixels[:, :60] = (255, 0, 0)  # left half red
    pixels[:, 60:] = rng.integers(0, 50, (60, 60, 3), dtype=np.uint8)
    im = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    im.save(path, exif=exif.tobytes(), quality=95)
    out = decode_image(path, size=64)
    assert out.shape == (64, 64, 3)
    # shown upright, the red half is on top
    assert out[:24, :, 0].mean() > 200 and out[40:, :, 0].mean() < 80


def test_model_id_names_the_weights(assist_bb_onnx: Backbone) -> None:
    assert assist_bb_onnx.model_id.startswith("efficientnet-lite0@")
    assert len(assist_bb_onnx.model_id.split("@")[1]) == 10
    assert "onnxruntime" in assist_bb_onnx.device_name
