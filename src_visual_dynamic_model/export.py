"""`export`: the best model's outputs for the other stages and for submission.

Per split, a `frames` table with one row for every frame of every video (every annotation line for
train/val, every template row for test): the 256-d embedding before the last layer, the prediction,
the label (NaN where none) and a `face` flag (False where the frame's features were borrowed from a
neighbour or, for a video without crops, are zeros). Also per-video TXT predictions and the flat test
submission, validated against the template. Predictions are smoothed as `export.smoothing` says; with
"fit" the kernels are chosen on the validation predictions (and, for the report, on the train ones).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from abaw.atomic import write_text
from abaw.config import config_sha
from abaw.metrics import va_score
from abaw.positions import contiguous, write_submission_checked
from abaw.smoothing import Labelled, SmoothingPlan, plan_smoothing
from abaw.submission import write_video_txts
from abaw.tables import frames_table, make_meta, write_table
from src_visual_dynamic_model.config import VisualConfig, backbone_sha
from src_visual_dynamic_model.data import load_split
from src_visual_dynamic_model.inference import predict_split
from src_visual_dynamic_model.model import TemporalTransformer
from src_visual_dynamic_model.train import STAGE

log = logging.getLogger("abaw.visual")


def smoothing_plan(cfg: VisualConfig, model: TemporalTransformer) -> SmoothingPlan:
    """The export's smoothing; "fit" predicts val and train once more, without embeddings, to choose it."""
    if cfg.export.smoothing.mode != "fit":
        return plan_smoothing(cfg.export.smoothing)
    train = cfg.train
    labelled = {}
    for split in ("val", "train"):
        data = load_split(cfg, split, expect_dim=model.arch.input_dim)
        pred, _ = predict_split(model, data, train.window, train.hop_length, train.eval_batch_size,
                                train.time_delay, train.stitch, amp=train.amp)
        labelled[split] = Labelled(pred, data.labels, data.offsets)
    return plan_smoothing(cfg.export.smoothing, **labelled)


def export(cfg: VisualConfig, model: TemporalTransformer, checkpoint: Path, out: Path) -> dict[str, Any]:
    """Write `<out>/<split>.npz`, `<out>/predictions/<split>/<video>.txt`, `<out>/submission.txt` and
    `<out>/smoothing.md` (the kernels and the validation scores behind them)."""
    train = cfg.train
    result: dict[str, Any] = {"out": str(out), "checkpoint": str(checkpoint)}
    dtype = np.dtype(cfg.export.embedding_dtype)
    plan = smoothing_plan(cfg, model)
    for split in cfg.export.splits:
        data = load_split(cfg, split, expect_dim=model.arch.input_dim)
        pred, emb = predict_split(model, data, train.window, train.hop_length, train.eval_batch_size,
                                  train.time_delay, train.stitch, embeddings=True, amp=train.amp,
                                  amp_dtype=train.amp_dtype)
        assert emb is not None
        raw, pred = pred, plan.apply(pred, data.offsets)
        meta = make_meta("frames", split, "visual", STAGE, config_sha(cfg), backbone_sha=backbone_sha(cfg),
                         checkpoint=str(checkpoint), embedding="head hidden layer (before the output layer)",
                         smoothing=plan.summary())
        table = frames_table(data.videos, data.offsets, frame=data.frames, embedding=emb.astype(dtype),
                             prediction=pred, label=data.labels, face=data.face, meta=meta)
        write_table(out / f"{split}.npz", table)
        result[f"{split}_rows"] = data.n_frames
        if split != "test":
            result[f"{split}_score"] = va_score(pred, data.labels)["score"]
            if plan.active:
                result[f"{split}_score_unsmoothed"] = va_score(raw, data.labels)["score"]
        if contiguous(data):
            write_video_txts(out / "predictions" / split, data.videos, data.offsets, pred)
        else:
            log.warning("%s: frames are not 1..n per video, so no per-video TXT files "
                        "(the table has them all)", split)
        if split == "test":
            submission = write_submission_checked(out / "submission.txt", cfg.data.test_template, data, pred)
            result["submission"] = str(submission)
    result["smoothing"] = plan.summary()
    result["smoothing_report"] = plan.report()
    write_text(out / "smoothing.md", "# Export smoothing\n\n" + "\n".join(plan.report()) + "\n")
    return result
