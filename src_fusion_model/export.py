"""`export` and `predict`: the fused outputs for submission and for later stages.

Per split, a `frames` table with one row per frame position (embedding, prediction, label and the gate
weights per expert in a `gate` column), per-video TXT predictions and the validated flat test submission.
Predictions are smoothed as `export.smoothing` says (the shared option of every stage's export).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from abaw.atomic import write_text
from abaw.config import config_sha
from abaw.errors import AbawError
from abaw.metrics import va_score
from abaw.positions import contiguous, write_submission_checked
from abaw.smoothing import Labelled, SmoothingPlan, plan_smoothing
from abaw.submission import write_video_txts
from abaw.tables import frames_table, make_meta, write_table
from src_fusion_model.config import FusionConfig
from src_fusion_model.data import load_split
from src_fusion_model.gates import gate_means
from src_fusion_model.inference import predict_split
from src_fusion_model.model import DCMMOE
from src_fusion_model.train import STAGE

log = logging.getLogger("abaw.fusion")


def smoothing_plan(cfg: FusionConfig, model: DCMMOE) -> SmoothingPlan:
    if cfg.export.smoothing.mode != "fit":
        return plan_smoothing(cfg.export.smoothing)
    labelled = {}
    for split in ("val", "train"):
        data = load_split(cfg, split, expect_dims=dict(zip(model.arch.modalities, model.arch.input_dims,
                                                           strict=True)))
        labelled[split] = Labelled(predict_split(model, data, cfg.train)[0], data.labels, data.offsets)
    return plan_smoothing(cfg.export.smoothing, **labelled)


def export(cfg: FusionConfig, model: DCMMOE, checkpoint: Path, out: Path) -> dict[str, Any]:
    """Write `<out>/<split>.npz`, `<out>/predictions/<split>/<video>.txt`, `<out>/submission.txt`."""
    result: dict[str, Any] = {"out": str(out), "checkpoint": str(checkpoint)}
    dims = dict(zip(model.arch.modalities, model.arch.input_dims, strict=True))
    plan = smoothing_plan(cfg, model)
    for split in cfg.export.splits:
        data = load_split(cfg, split, expect_dims=dims)
        raw, emb, gates = predict_split(model, data, cfg.train)
        pred = plan.apply(raw, data.offsets)
        meta = make_meta("frames", split, "fusion", STAGE, config_sha(cfg), checkpoint=str(checkpoint),
                         experts=list(model.arch.experts), smoothing=plan.summary(),
                         embedding="head hidden layer (before the output layer)")
        table = frames_table(data.videos, data.offsets, frame=data.frames,
                             embedding=emb.astype(cfg.export.embedding_dtype), prediction=pred,
                             label=data.labels, gate=gates.astype(np.float32), meta=meta)
        write_table(out / f"{split}.npz", table)
        result[f"{split}_rows"] = data.n_frames
        if split != "test":
            result[f"{split}_score"] = va_score(pred, data.labels)["score"]
        if split == "val":
            result["val_gate"] = gate_means(model.arch.experts, gates)
        if contiguous(data.positions):
            write_video_txts(out / "predictions" / split, data.videos, data.offsets, pred)
        else:
            log.warning("%s: frames are not 1..n per video, so no per-video TXT files", split)
        if split == "test":
            path = write_submission_checked(out / "submission.txt", cfg.data.test_template, data.positions,
                                            pred)
            result["submission"] = str(path)
    result["smoothing_report"] = plan.report()
    write_text(out / "smoothing.md", "# Export smoothing\n\n" + "\n".join(plan.report()) + "\n")
    return result


def predict(cfg: FusionConfig, model: DCMMOE, out: Path, template: Path | None = None,
            split: str | None = None) -> dict[str, Any]:
    """Template mode writes the flat submission to `out`; split mode writes `<out>/<video>.txt`."""
    dims = dict(zip(model.arch.modalities, model.arch.input_dims, strict=True))
    data = load_split(cfg, "test" if template is not None else split or "val", expect_dims=dims,
                      template=template)
    pred = predict_split(model, data, cfg.train)[0]
    result: dict[str, Any] = {"videos": len(data.videos), "frames": data.n_frames}
    if template is not None:
        result["submission"] = str(write_submission_checked(out, template, data.positions, pred))
        return result
    if not contiguous(data.positions):
        raise AbawError(f"{data.split}: the frames of some videos are not 1..n; use --template")
    write_video_txts(out, data.videos, data.offsets, pred)
    result["predictions"] = str(out)
    if np.isfinite(data.labels).any():
        result.update(va_score(pred, data.labels))
    return result
