"""The torch device, chosen once per process (CUDA when present, else the CPU)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache

import torch

_LOCK = threading.Lock()


@dataclass(frozen=True)
class DeviceInfo:
    """Where the model module runs; ``name`` is what run records show (e.g. ``cuda:NVIDIA H100``)."""

    kind: str  # "cuda" | "cpu"
    name: str
    threads: int

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"

    @property
    def torch_device(self) -> torch.device:
        return torch.device("cuda" if self.is_cuda else "cpu")


def cpu_threads() -> int:
    """Threads for CPU inference: ``$ANNOTA_THREADS`` or every core this process may use."""
    env = os.environ.get("ANNOTA_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@lru_cache(maxsize=1)
def device_info() -> DeviceInfo:
    """Pick the device once; sets torch's CPU thread count as a side effect (first call only)."""
    with _LOCK:
        threads = cpu_threads()
        torch.set_num_threads(threads)
        if os.environ.get("ANNOTA_DEVICE", "").lower() != "cpu" and torch.cuda.is_available():
            return DeviceInfo("cuda", f"cuda:{torch.cuda.get_device_name(0)}", threads)
        return DeviceInfo("cpu", f"cpu:{threads} threads", threads)


def torch_device() -> torch.device:
    return device_info().torch_device


def device_name() -> str:
    return device_info().name
