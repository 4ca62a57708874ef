"""Classification heads trained on backbone embeddings.

Multi-class: one softmax (multinomial logistic) regression. Multi-label: one logistic regression
per class (one-vs-rest), fitted jointly. Both are L2-regularised and fitted full-batch with
L-BFGS in torch on the CPU, which takes well under a second for thousands of labels, so heads are
retrained from scratch whenever labels change.

Inputs are unit-length embeddings (``EmbeddingIndex`` stores them so); the head centres them (on
the mean of the project's embeddings when given, else of the training set) and scales them to
unit variance overall.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.domain import TaskType


@dataclass(frozen=True)
class LabelSpace:
    """The declared contract of a head: the task type and the label classes, in column order."""

    task: TaskType
    class_ids: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.task.is_classification:
            raise ValueError(f"a classification head cannot serve task {self.task.value!r}")
        if len(self.class_ids) < 2 or len(set(self.class_ids)) != len(self.class_ids):
            raise ValueError("a label space needs at least two distinct classes")

    @property
    def multilabel(self) -> bool:
        return self.task is TaskType.MULTILABEL

    @property
    def n_classes(self) -> int:
        return len(self.class_ids)

    def column(self, class_id: int) -> int:
        return self.class_ids.index(class_id)

    def encode(self, answers: Sequence[int | Sequence[int]]) -> np.ndarray:
        """Human answers as targets.

        Multi-class: a class id per item -> ``(n,)`` column indices. Multi-label: a list of class
        ids per item (possibly empty) -> ``(n, C)`` 0/1 matrix. Unknown class ids raise.
        """
        cols = {c: j for j, c in enumerate(self.class_ids)}
        if not self.multilabel:
            if not all(isinstance(a, int | np.integer) for a in answers):
                raise TypeError("multi-class answers are one class id per item")
            return np.array([cols[int(a)] for a in answers], dtype=np.int64)  # type: ignore[arg-type]
        out = np.zeros((len(answers), self.n_classes), dtype=np.float32)
        for i, ids in enumerate(answers):
            if isinstance(ids, int | np.integer):
                raise TypeError("multi-label answers are a list of class ids per item")
            for c in ids:
                out[i, cols[int(c)]] = 1.0
        return out

    def decode(self, columns: np.ndarray) -> list[int]:
        return [self.class_ids[int(j)] for j in np.atleast_1d(columns)]


@dataclass(frozen=True)
class HeadConfig:
    l2: float = 1e-2  # weight decay on the (scaled) weights, added to the mean loss
    max_iter: int = 100


@dataclass(frozen=True)
class LinearHead:
    """``proba = softmax|sigmoid(((x - mean) / scale) @ weight + bias)``; ``weight`` is ``(d, C)``."""

    space: LabelSpace
    mean: np.ndarray
    scale: float
    weight: np.ndarray
    bias: np.ndarray
    n_train: int

    def logits(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float32) - self.mean) / self.scale
        return z @ self.weight + self.bias

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """``(n, C)`` probabilities: rows sum to 1 (multi-class) or each column is P(class) (multi-label)."""
        z = self.logits(np.atleast_2d(x)).astype(np.float64)
        if self.space.multilabel:
            return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(
            buf,
            task=np.array(self.space.task.value),
            class_ids=np.array(self.space.class_ids, dtype=np.int64),
            mean=self.mean,
            scale=np.array(self.scale),
            weight=self.weight,
            bias=self.bias,
            n_train=np.array(self.n_train),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearHead:
        with np.load(io.BytesIO(data)) as z:
            space = LabelSpace(TaskType(str(z["task"])), tuple(int(c) for c in z["class_ids"]))
            return cls(space, z["mean"], float(z["scale"]), z["weight"], z["bias"], int(z["n_train"]))


def train_head(
    space: LabelSpace,
    x: np.ndarray,
    y: np.ndarray,
    config: HeadConfig | None = None,
    center: np.ndarray | None = None,
) -> LinearHead:
    """Fit a head on embeddings ``x`` ``(n, d)`` and targets ``y`` from ``space.encode``.

    Deterministic (zero initialisation, full-batch L-BFGS). ``center`` is the mean embedding of
    the whole project when known (helps with few labels).
    """
    cfg = config or HeadConfig()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need matching non-empty embeddings and targets, got {x.shape} and {len(y)}")
    mean = (np.asarray(center, dtype=np.float32) if center is not None else x.mean(axis=0)).astype(np.float32)
    scale = float((x - mean).std()) or 1.0
    z = torch.from_numpy((x - mean) / scale)
    n_classes = space.n_classes
    w = torch.zeros(x.shape[1], n_classes, requires_grad=True)
    b = torch.zeros(n_classes, requires_grad=True)
    if space.multilabel:
        target = torch.from_numpy(np.asarray(y, dtype=np.float32).reshape(len(x), n_classes))
    else:
        target_idx = torch.from_numpy(np.asarray(y, dtype=np.int64))
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=cfg.max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = z @ w + b
        if space.multilabel:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="sum")
            loss = loss / len(x)
        else:
            loss = torch.nn.functional.cross_entropy(logits, target_idx)
        loss = loss + cfg.l2 * (w * w).sum()
        loss.backward()
        return loss

    threads = torch.get_num_threads()
    try:
        # these matrices are small: one thread is several times faster, most of all on a busy CPU
        torch.set_num_threads(1)
        with torch.enable_grad():
            opt.step(closure)
    finally:
        torch.set_num_threads(threads)
    return LinearHead(
        space=space,
        mean=mean,
        scale=scale,
        weight=w.detach().numpy().copy(),
        bias=b.detach().numpy().copy(),
        n_train=len(x),
    )
