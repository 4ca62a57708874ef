"""Fixtures shared by the model-module tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from core.assist.device import device_info


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for a module's tests (small detector fits run faster so on a busy 2-core CPU)."""
    device_info()  # the device is picked (and named) with the machine's own thread count first
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
