"""`export`: the behaviour modality for the fusion stages and a submission.

Per split, a `frames` table with one row for every frame position (every annotation line of train/val,
every template row of test): the clip embedding and the clip prediction spread to frames (overlapping
clips averaged, uncovered frames from the nearest covered one), and the label (NaN where none). Also
per-video TXT predictions and the flat test submission, validated against the template.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from abaw.config import config_sha
from abaw.metrics import va_score
from abaw.positions import contiguous, split_positions, write_submission_checked
from abaw.submission import write_video_txts
from abaw.tables import frames_table, make_meta, write_table
from src_behavior_model.config import BehaviourConfig
from src_behavior_model.data import read_clips, spread
from src_behavior_model.inference import predict_clips
from src_behavior_model.model import ClipModel
from src_behavior_model.train import STAGE

log = logging.getLogger("abaw.behaviour")


def export(cfg: BehaviourConfig, model: ClipModel, checkpoint: Path, out: Path) -> dict[str, Any]:
    """Write `<out>/<split>.npz`, `<out>/predictions/<split>/<video>.txt` and `<out>/submission.txt`."""
    train = cfg.train
    result: dict[str, Any] = {"out": str(out), "checkpoint": str(checkpoint)}
    dtype = np.dtype(cfg.export.embedding_dtype)
    for split in cfg.export.splits:
        clips = read_clips(cfg, split, expect=model.arch)
        pos = split_positions(cfg.data, split)
        clip_pred, clip_emb = predict_clips(
            model, clips, train.seq_len, train.stride, train.eval_batch_size, embeddings=True
        )
        assert clip_emb is not None
        pred = spread(clips, pos, clip_pred)
        emb = spread(clips, pos, clip_emb).astype(dtype)
        meta = make_meta(
            "frames",
            split,
            "behaviour",
            STAGE,
            config_sha(cfg),
            checkpoint=str(checkpoint),
            model_kind=model.arch["kind"],
            features=list(model.arch["features"]),
            embedding="clip head hidden layer, spread to frames",
        )
        write_table(
            out / f"{split}.npz",
            frames_table(
                pos.videos,
                pos.offsets,
                frame=pos.frames,
                embedding=emb,
                prediction=pred,
                label=pos.labels,
                meta=meta,
            ),
        )
        result[f"{split}_rows"] = int(pos.offsets[-1])
        if split != "test":
            result[f"{split}_score"] = va_score(pred, pos.labels)["score"]
        if contiguous(pos):
            write_video_txts(out / "predictions" / split, pos.videos, pos.offsets, pred)
        else:
            log.warning(
                "%s: frames are not 1..n per video, so no per-video TXT files (the table has them all)", split
            )
        if split == "test":
            result["submission"] = str(
                write_submission_checked(out / "submission.txt", cfg.data.test_template, pos, pred)
            )
    return result
