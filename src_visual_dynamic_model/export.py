"""`export`: the best model's outputs for the other stages and for submission.

Per split, a `frames` table with one row for every frame of every video (every annotation line for
train/val, every template row for test): the 256-d embedding before the last layer, the prediction,
the label (NaN where none) and a `face` flag (False where the frame's features were borrowed from a
neighbour or, for a video without crops, are zeros). Also per-video TXT predictions and the flat test
submission, validated against the template.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from abaw.config import config_sha
from abaw.metrics import va_score
from abaw.positions import contiguous, write_submission_checked
from abaw.submission import write_video_txts
from abaw.tables import frames_table, make_meta, write_table
from src_visual_dynamic_model.config import VisualConfig, backbone_sha
from src_visual_dynamic_model.data import load_split
from src_visual_dynamic_model.inference import predict_split
from src_visual_dynamic_model.model import TemporalTransformer
from src_visual_dynamic_model.train import STAGE

log = logging.getLogger("abaw.visual")


def export(cfg: VisualConfig, model: TemporalTransformer, checkpoint: Path, out: Path) -> dict[str, Any]:
    """Write `<out>/<split>.npz`, `<out>/predictions/<split>/<video>.txt` and `<out>/submission.txt`."""
    train = cfg.train
    result: dict[str, Any] = {"out": str(out), "checkpoint": str(checkpoint)}
    dtype = np.dtype(cfg.export.embedding_dtype)
    for split in cfg.export.splits:
        data = load_split(cfg, split, expect_dim=model.arch.input_dim)
        pred, emb = predict_split(model, data, train.window, train.hop_length, train.eval_batch_size,
                                  train.time_delay, train.stitch, embeddings=True, amp=train.amp)
        assert emb is not None
        meta = make_meta("frames", split, "visual", STAGE, config_sha(cfg), backbone_sha=backbone_sha(cfg),
                         checkpoint=str(checkpoint), embedding="head hidden layer (before the output layer)")
        table = frames_table(data.videos, data.offsets, frame=data.frames, embedding=emb.astype(dtype),
                             prediction=pred, label=data.labels, face=data.face, meta=meta)
        write_table(out / f"{split}.npz", table)
        result[f"{split}_rows"] = data.n_frames
        if split != "test":
            result[f"{split}_score"] = va_score(pred, data.labels)["score"]
        if contiguous(data):
            write_video_txts(out / "predictions" / split, data.videos, data.offsets, pred)
        else:
            log.warning("%s: frames are not 1..n per video, so no per-video TXT files "
                        "(the table has them all)", split)
        if split == "test":
            submission = write_submission_checked(out / "submission.txt", cfg.data.test_template, data, pred)
            result["submission"] = str(submission)
    return result
