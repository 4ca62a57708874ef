"""A box detector learnt from the project's own boxes, over the pretrained EfficientNet-Lite0.

Transfer learning, sized for a 2-core CPU: the backbone stays frozen (ImageNet weights from the
registry package), its feature maps at strides 8, 16 and 32 are computed once per training image
(and its mirror image), and only a small neck and an anchor-free FCOS-style head are trained on
them: per location of a stride-16 grid, a class score, the distances to the box's four sides and
a centre-ness. Proposals are the locations' boxes after score fusion and ``torchvision.ops``
batched NMS.

All boxes are ``xyxy`` in oriented image pixels. ``fit_detector`` trains, then calibrates the score
threshold on held-out images with the metrics of ``core.assist.box_metrics`` (``Detections``,
matching, mAP@0.5, ``calibrate_threshold``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision.ops import batched_nms, box_iou, generalized_box_iou_loss, sigmoid_focal_loss

from core.assist.box_metrics import Calibration, Detections, Truth, average_precision, calibrate_threshold
from core.assist.device import torch_device
from core.assist.segmenter import ImageLike, load_rgb
from core.assist.trained import DETECTOR_MODEL

MODEL_NAME = DETECTOR_MODEL  # its training runs are found by this name (core.assist.trained)
STRIDE = 16
ProgressCb = Callable[[float, str], None]  # (fraction done, message)


@dataclass(frozen=True)
class LabeledImage:
    """One training image with its human boxes (``xyxy`` pixels) and their project class ids."""

    image: ImageLike
    xyxy: np.ndarray
    class_id: np.ndarray
    key: str = ""


@dataclass(frozen=True)
class DetectorConfig:
    input_size: int = 512  # longer side, pixels; the image is padded to a square
    channels: int = 64
    epochs: int = 30
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    hflip: bool = True
    seed: int = 0
    max_train_images: int = 400  # feature caches are kept in memory (float16, ~0.7 MB an image)


@dataclass(frozen=True)
class TrainReport:
    n_images: int
    n_boxes: int
    epochs: int
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    feature_s: float = 0.0
    train_s: float = 0.0


# ------------------------------------------------------------------------------------------ network


class FeaturePyramidLite0(nn.Module):
    """The frozen EfficientNet-Lite0 trunk returning its stride-8, 16 and 32 feature maps."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.taps: list[int] = []
        blocks = list(net._blocks)  # type: ignore[arg-type]
        for i, block in enumerate(blocks):
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            out_c = block._block_args.output_filters
            if nxt is None or (nxt._block_args.output_filters != out_c and _stride(nxt) == 2):
                self.taps.append(i)  # the last block before a downsampling (and the very last)
        self.taps = self.taps[-3:]
        self.out_channels = [int(blocks[i]._block_args.output_filters) for i in self.taps]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        net: Any = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        feats: list[torch.Tensor] = []
        for i, block in enumerate(net._blocks):
            x = block(x)
            if i in self.taps:
                feats.append(x)
        return feats


def _stride(block: Any) -> int:
    s = block._block_args.stride
    return int(s[0] if isinstance(s, list | tuple) else s)


@lru_cache(maxsize=1)
def _trunk() -> FeaturePyramidLite0:
    from efficientnet_lite_pytorch import EfficientNet

    from core.assist.backbone import MODEL_NAME as BACKBONE
    from core.assist.backbone import default_weights_path

    net = EfficientNet.from_pretrained(BACKBONE, weights_path=str(default_weights_path()))
    trunk = FeaturePyramidLite0(net).eval().to(torch_device())  # CUDA where present (core.assist.device)
    for p in trunk.parameters():
        p.requires_grad_(False)
    return trunk


class FcosHead(nn.Module):
    """Neck (3 levels fused at stride 16) and a shared head: class logits, ltrb, centre-ness."""

    def __init__(self, in_channels: Sequence[int], n_classes: int, channels: int = 96) -> None:
        super().__init__()
        c3, c4, c5 = in_channels
        self.lat3 = nn.Conv2d(c3, channels, 3, stride=2, padding=1)
        self.lat4 = nn.Conv2d(c4, channels, 1)
        self.lat5 = nn.Conv2d(c5, channels, 1)
        layers: list[nn.Module] = []
        for _ in range(3):
            layers += [
                nn.Conv2d(channels, channels, 3, padding=1),
                nn.GroupNorm(8, channels),
                nn.ReLU(inplace=True),
            ]
        self.tower = nn.Sequential(*layers)
        self.cls = nn.Conv2d(channels, n_classes, 3, padding=1)
        self.box = nn.Conv2d(channels, 4, 3, padding=1)
        self.ctr = nn.Conv2d(channels, 1, 3, padding=1)
        nn.init.constant_(self.cls.bias, -4.6)  # type: ignore[arg-type]  # prior 0.01, as RetinaNet/FCOS
        nn.init.constant_(self.box.bias, 1.5)  # type: ignore[arg-type]

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f3, f4, f5 = feats
        p = self.lat4(f4) + self.lat3(f3) + F.interpolate(self.lat5(f5), size=f4.shape[-2:], mode="nearest")
        t = self.tower(F.relu(p))
        ltrb = torch.exp(self.box(t).clamp(max=7.0)) * STRIDE
        return self.cls(t), ltrb, self.ctr(t)


# ------------------------------------------------------------------------------------------ geometry


def _letterbox(rgb: np.ndarray, size: int, flip: bool = False) -> tuple[torch.Tensor, float]:
    """``(1, 3, size, size)`` normalised as ``(x - 127) / 128``, padded bottom/right; and the scale."""
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    im = Image.fromarray(rgb).resize((nw, nh), Image.Resampling.BILINEAR)
    arr = np.asarray(im, dtype=np.float32)
    if flip:
        arr = arr[:, ::-1]
    out = np.zeros((size, size, 3), np.float32)
    out[:nh, :nw] = (arr - 127.0) / 128.0
    return torch.from_numpy(out.transpose(2, 0, 1).copy())[None], scale


def _grid(n: int) -> torch.Tensor:
    """Centres of an ``n x n`` stride-16 grid, ``(n*n, 2)`` as (x, y)."""
    c = (torch.arange(n, dtype=torch.float32) + 0.5) * STRIDE
    ys, xs = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def _targets(
    points: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, n_classes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """FCOS assignment with centre sampling: class one-hot ``(P, C)``, box ``(P, 4)``, positive mask."""
    n_points = points.shape[0]
    cls_t = torch.zeros(n_points, n_classes)
    box_t = torch.zeros(n_points, 4)
    if boxes.numel() == 0:
        return cls_t, box_t, torch.zeros(n_points, dtype=torch.bool)
    x, y = points[:, 0:1], points[:, 1:2]
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    inside = (x > x1) & (x < x2) & (y > y1) & (y < y2)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    rx = torch.clamp(0.3 * (x2 - x1), min=1.5 * STRIDE)
    ry = torch.clamp(0.3 * (y2 - y1), min=1.5 * STRIDE)
    central = ((x - cx).abs() < rx) & ((y - cy).abs() < ry)
    ok = inside & central
    area = ((x2 - x1) * (y2 - y1)).expand(n_points, -1).clone()
    area[~ok] = float("inf")
    best_area, best = area.min(dim=1)
    pos = torch.isfinite(best_area)
    cls_t[pos, labels[best[pos]]] = 1.0
    box_t[pos] = boxes[best[pos]]
    return cls_t, box_t, pos


def _centerness(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    l_ = (points[:, 0] - boxes[:, 0]).clamp(min=0)
    t_ = (points[:, 1] - boxes[:, 1]).clamp(min=0)
    r_ = (boxes[:, 2] - points[:, 0]).clamp(min=0)
    b_ = (boxes[:, 3] - points[:, 1]).clamp(min=0)
    lr = torch.minimum(l_, r_) / torch.maximum(l_, r_).clamp(min=1e-6)
    tb = torch.minimum(t_, b_) / torch.maximum(t_, b_).clamp(min=1e-6)
    return torch.sqrt(lr * tb)


def _decode(points: torch.Tensor, ltrb: torch.Tensor) -> torch.Tensor:
    return torch.cat([points - ltrb[:, :2], points + ltrb[:, 2:]], dim=1)


def _vote(
    boxes: torch.Tensor, score: torch.Tensor, label: torch.Tensor, kept: torch.Tensor, iou: float
) -> torch.Tensor:
    """Box voting: each kept box becomes the score-weighted mean of the same-class boxes around it."""
    if kept.numel() == 0:
        return boxes[kept]
    ious = box_iou(boxes[kept], boxes)
    near = (
        (ious >= iou)
        & (label[kept][:, None] == label[None, :])
        & (score[None, :] >= 0.5 * score[kept][:, None])
    )
    w = near.float() * score[None, :]
    return (w @ boxes) / w.sum(dim=1, keepdim=True).clamp(min=1e-9)


# ------------------------------------------------------------------------------------------ model


class BoxDetector:
    """A trained head plus the shared frozen trunk; ``predict`` gives ``Detections`` in image pixels."""

    def __init__(self, head: FcosHead, class_ids: Sequence[int], config: DetectorConfig) -> None:
        self.head = head.eval().to(torch_device())
        self.class_ids = [int(c) for c in class_ids]
        self.config = config

    @property
    def model_name(self) -> str:
        return f"{MODEL_NAME}@{self.config.input_size}"

    @torch.inference_mode()
    def predict(
        self,
        image: ImageLike,
        *,
        score_threshold: float = 0.05,
        max_detections: int = 50,
        nms_iou: float = 0.5,
    ) -> Detections:
        rgb = load_rgb(image)
        h, w = rgb.shape[:2]
        x, scale = _letterbox(rgb, self.config.input_size)
        cls, ltrb, ctr = (t.float().cpu() for t in self.head(_trunk()(x.to(torch_device()))))
        n = cls.shape[-1]
        points = _grid(n)
        scores = torch.sqrt(
            torch.sigmoid(cls[0]).reshape(cls.shape[1], -1).T * torch.sigmoid(ctr[0]).reshape(-1, 1)
        )
        boxes = _decode(points, ltrb[0].reshape(4, -1).T)
        score, label = scores.max(dim=1)
        keep = score >= score_threshold
        boxes, score, label = boxes[keep], score[keep], label[keep]
        boxes = boxes / scale
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
        valid = (boxes[:, 2] - boxes[:, 0] > 1) & (boxes[:, 3] - boxes[:, 1] > 1)
        boxes, score, label = boxes[valid], score[valid], label[valid]
        order = batched_nms(boxes, score, label, nms_iou)[:max_detections]
        voted = _vote(boxes, score, label, order, nms_iou)
        ids = np.asarray(self.class_ids, dtype=np.int64)
        return Detections(
            voted.numpy().astype(np.float32),
            ids[label[order].numpy()],
            score[order].numpy().astype(np.float32),
        )

    def save(self, path: Path, extra: dict[str, Any] | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        payload = {
            "model": MODEL_NAME,
            "state_dict": {k: v.cpu() for k, v in self.head.state_dict().items()},
            "class_ids": self.class_ids,
            "config": asdict(self.config),
            "extra": extra or {},
        }
        torch.save(payload, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> tuple[BoxDetector, dict[str, Any]]:
        """The detector and the ``extra`` dict it was saved with (e.g. its calibration)."""
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("model") != MODEL_NAME:
            raise ValueError(f"{path} is not a {MODEL_NAME} detector")
        config = DetectorConfig(**payload["config"])
        head = FcosHead(_trunk().out_channels, len(payload["class_ids"]), config.channels)
        head.load_state_dict(payload["state_dict"])
        return cls(head, payload["class_ids"], config), dict(payload.get("extra") or {})


# ------------------------------------------------------------------------------------------ training


def _features(rgb: np.ndarray, size: int, flip: bool) -> tuple[list[torch.Tensor], float]:
    x, scale = _letterbox(rgb, size, flip)
    with torch.inference_mode():
        feats = _trunk()(x.to(torch_device()))
    return [f[0].to(torch.float16).cpu() for f in feats], scale


FeatureCache = dict[tuple[str, int, bool], tuple[list[torch.Tensor], float, int]]


def train_detector(
    images: Sequence[LabeledImage],
    class_ids: Sequence[int],
    config: DetectorConfig | None = None,
    progress: ProgressCb | None = None,
    cache: FeatureCache | None = None,
) -> tuple[BoxDetector, TrainReport]:
    """Train the head on the labeled images (boxes in image pixels, ids among ``class_ids``).

    ``cache``: trunk features by ``(key, size, flip)``, shared between fits on the same images.
    """
    cfg = config or DetectorConfig()
    ids = [int(c) for c in class_ids]
    if not ids:
        raise ValueError("a detector needs at least one class")
    index = {c: i for i, c in enumerate(ids)}
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    chosen = list(images)
    if len(chosen) > cfg.max_train_images:
        chosen = [chosen[i] for i in sorted(rng.choice(len(chosen), cfg.max_train_images, replace=False))]
    t0 = time.perf_counter()
    samples: list[tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]] = []
    for k, item in enumerate(chosen):
        boxes = np.asarray(item.xyxy, np.float32).reshape(-1, 4)
        labels = torch.as_tensor(
            [index[int(c)] for c in np.asarray(item.class_id).reshape(-1)], dtype=torch.long
        )
        rgb: np.ndarray | None = None
        for flip in (False, True) if cfg.hflip else (False,):
            ck = (item.key, cfg.input_size, flip)
            if cache is not None and item.key and ck in cache:
                feats, scale, w = cache[ck]
            else:
                rgb = load_rgb(item.image) if rgb is None else rgb
                w = rgb.shape[1]
                feats, scale = _features(rgb, cfg.input_size, flip)
                if cache is not None and item.key:
                    cache[ck] = (feats, scale, w)
            b = boxes.copy()
            if flip:
                b[:, [0, 2]] = w - boxes[:, [2, 0]]
            samples.append((feats, torch.from_numpy(b * scale), labels))
        if progress is not None:
            progress(0.4 * (k + 1) / len(chosen), f"features {k + 1}/{len(chosen)}")
    feature_s = time.perf_counter() - t0

    trunk = _trunk()
    dev = torch_device()
    head = FcosHead(trunk.out_channels, len(ids), cfg.channels).to(dev)
    n_grid = cfg.input_size // STRIDE
    points = _grid(n_grid)
    targets = [_targets(points, b, lab, len(ids)) for _, b, lab in samples]
    points = points.to(dev)
    steps_per_epoch = max(1, int(np.ceil(len(samples) / cfg.batch_size)))
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15
    )
    losses: list[float] = []
    t1 = time.perf_counter()
    head.train()
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(samples))
        total = 0.0
        for s in range(steps_per_epoch):
            batch = order[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            if len(batch) == 0:
                continue
            feats = [torch.stack([samples[i][0][lvl] for i in batch]).to(dev).float() for lvl in range(3)]
            cls_t = torch.stack([targets[i][0] for i in batch]).to(dev)
            box_t = torch.stack([targets[i][1] for i in batch]).to(dev)
            pos = torch.stack([targets[i][2] for i in batch]).to(dev)
            loss = _loss(head(feats), points, cls_t, box_t, pos)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        losses.append(total / steps_per_epoch)
        if progress is not None:
            progress(
                0.4 + 0.6 * (epoch + 1) / cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs}, loss {losses[-1]:.3f}"
            )
    report = TrainReport(
        n_images=len(chosen),
        n_boxes=int(sum(len(np.asarray(i.xyxy).reshape(-1, 4)) for i in chosen)),
        epochs=cfg.epochs,
        losses=losses,
        feature_s=feature_s,
        train_s=time.perf_counter() - t1,
    )
    return BoxDetector(head, ids, cfg), report


def _loss(
    out: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    points: torch.Tensor,
    cls_t: torch.Tensor,
    box_t: torch.Tensor,
    pos: torch.Tensor,
) -> torch.Tensor:
    cls, ltrb, ctr = out
    b, c = cls.shape[:2]
    cls = cls.reshape(b, c, -1).transpose(1, 2)  # (B, P, C)
    ltrb = ltrb.reshape(b, 4, -1).transpose(1, 2)
    ctr = ctr.reshape(b, -1)
    n_pos = max(1.0, float(pos.sum()))
    loss_cls = sigmoid_focal_loss(cls, cls_t, alpha=0.25, gamma=2.0, reduction="sum") / n_pos
    if not pos.any():
        return loss_cls
    pts = points.expand(b, -1, -1)[pos]
    pred_boxes = _decode(pts, ltrb[pos])
    true_boxes = box_t[pos]
    weight = _centerness(pts, true_boxes)
    loss_box = (generalized_box_iou_loss(pred_boxes, true_boxes, reduction="none") * weight).sum()
    loss_box = loss_box / weight.sum().clamp(min=1e-6)
    # the quality branch learns the IoU its own box reaches, so scores rank well-placed boxes first
    quality_t = box_iou(pred_boxes.detach(), true_boxes).diagonal().clamp(0, 1)
    loss_q = F.binary_cross_entropy_with_logits(ctr[pos], quality_t, reduction="mean")
    return loss_cls + loss_box + loss_q


# ------------------------------------------------------------------------------------------ fit + calibrate


@dataclass(frozen=True)
class FitResult:
    detector: BoxDetector
    calibration: Calibration
    report: TrainReport  # of the final fit on every labeled image
    holdout_map50: float


def fit_detector(
    images: Sequence[LabeledImage],
    class_ids: Sequence[int],
    config: DetectorConfig | None = None,
    *,
    holdout_fraction: float = 0.2,
    iou: float = 0.7,
    target: float = 0.6,
    progress: ProgressCb | None = None,
) -> FitResult:
    """Calibrate then train: fit on ``1 - holdout_fraction`` of the images, pick the score threshold
    on the rest (``calibrate_threshold``), then fit again on all of them with the same settings.

    The held-out split is fixed by ``config.seed``; at least one image is held out and one trained on.
    """
    cfg = config or DetectorConfig()
    items = list(images)
    if len(items) < 2:
        raise ValueError("calibration needs at least two labeled images")
    items = [
        i if i.key else LabeledImage(i.image, i.xyxy, i.class_id, key=f"#{n}") for n, i in enumerate(items)
    ]
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(items))
    n_hold = min(len(items) - 1, max(1, round(holdout_fraction * len(items))))
    hold = [items[i] for i in sorted(order[:n_hold])]
    fit = [items[i] for i in sorted(order[n_hold:])]
    cache: FeatureCache = {}

    def part(lo: float, hi: float) -> ProgressCb | None:
        if progress is None:
            return None
        cb = progress
        return lambda f, msg: cb(lo + (hi - lo) * f, msg)

    first, _ = train_detector(fit, class_ids, cfg, part(0.0, 0.45), cache)
    dets = [first.predict(i.image) for i in hold]
    truths = [Truth(np.asarray(i.xyxy).reshape(-1, 4), np.asarray(i.class_id).reshape(-1)) for i in hold]
    calibration = calibrate_threshold(dets, truths, iou=iou, target=target)
    holdout_map = average_precision(dets, truths, 0.5)
    final, report = train_detector(items, class_ids, cfg, part(0.5, 1.0), cache)
    return FitResult(final, calibration, report, holdout_map)
