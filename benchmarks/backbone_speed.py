"""Backbone throughput on this machine's device: the network alone, and from JPEG files.

    python -m benchmarks backbone

Also checks that the chosen engine (torch on CUDA where present, else ONNX Runtime) gives the same
embeddings as ONNX Runtime on the CPU (minimum cosine over 64 photos). Reads up to 125 flowers.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from benchmarks.common import print_table, write_json
from core.assist.backbone import Backbone, decode_image
from core.config import default_paths, shared_datasets


def _sync(bb: Backbone) -> None:
    if bb.device.is_cuda:
        torch.cuda.synchronize()


def main() -> dict[str, Any] | None:
    folder = shared_datasets() / "flowers"
    found = sorted(folder.rglob("*.jpg"))
    paths = found[:: max(1, len(found) // 125)][:125]  # 125 photos spread over the classes
    if len(paths) < 32:
        print(f"backbone: skipped, too few flowers under {folder}")
        return None
    cache = default_paths().models
    bb = Backbone.load(cache_dir=cache)
    imgs = np.stack([decode_image(p) for p in paths])
    out: dict[str, Any] = {"device": bb.device_name, "images": len(paths)}
    rows = []
    for bs in (32, len(paths)):
        batch = imgs[:bs]
        bb.embed_array(batch)  # warm up at this shape
        _sync(bb)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            bb.embed_array(batch)
            _sync(bb)
            times.append(time.perf_counter() - t)
        rate = bs / float(np.median(times))
        out[f"network_images_per_s_batch{bs}"] = rate
        rows.append([f"network alone, batch {bs} (median of 5)", f"{rate:,.0f} images/s"])
    times = []
    x = np.zeros(0)
    for _ in range(3):
        t = time.perf_counter()
        x = bb.embed_paths(paths, batch_size=64)
        times.append(time.perf_counter() - t)
    rate = len(paths) / float(np.median(times))
    out["files_images_per_s"] = rate
    rows.append(["from JPEG files, decoding included (median of 3)", f"{rate:,.0f} images/s"])
    cpu = Backbone.load(cache_dir=cache, engine="onnx")
    ref = cpu.embed_paths(paths[:64])
    cos = np.sum(ref * x[:64], 1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(x[:64], axis=1)
    out["min_cosine_vs_onnx_cpu"] = float(cos.min())
    rows.append(["min cosine vs ONNX Runtime on the CPU", f"{float(cos.min()):.6f}"])
    print_table(f"Backbone on {bb.device_name}", rows, ["measure", "value"])
    print(f"results: {write_json('backbone', out)}")
    return out


if __name__ == "__main__":
    main()
