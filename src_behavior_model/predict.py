"""`predict`: a trained checkpoint on a template (flat submission, validated) or on a split (per-video TXT).

Clips are read from the split's segments table (`test` for a template); on a labelled split the official
score is computed over every labelled frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from abaw.errors import AbawError
from abaw.metrics import va_score
from abaw.positions import contiguous, split_positions, write_submission_checked
from abaw.submission import write_video_txts
from src_behavior_model.config import BehaviourConfig
from src_behavior_model.data import read_clips, spread
from src_behavior_model.inference import predict_clips
from src_behavior_model.model import ClipModel


def predict(
    cfg: BehaviourConfig, model: ClipModel, out: Path, template: Path | None = None, split: str | None = None
) -> dict[str, Any]:
    """Template mode writes the flat submission to `out`; split mode writes `<out>/<video>.txt`."""
    name = "test" if template is not None else split or "val"
    clips = read_clips(cfg, name, expect=model.arch)
    pos = split_positions(cfg.data, name, template)
    clip_pred, _ = predict_clips(model, clips, cfg.train.seq_len, cfg.train.stride, cfg.train.eval_batch_size)
    pred = spread(clips, pos, clip_pred)
    result: dict[str, Any] = {"videos": len(pos.videos), "frames": int(pos.offsets[-1])}
    if template is not None:
        result["submission"] = str(write_submission_checked(out, template, pos, pred))
        return result
    if not contiguous(pos):
        raise AbawError(
            f"{name}: the frames of some videos are not 1..n, so per-video TXT files "
            "(line k = frame k) cannot hold them; use --template for a flat submission"
        )
    write_video_txts(out, pos.videos, pos.offsets, pred)
    result["predictions"] = str(out)
    if np.isfinite(pos.labels).any():
        result.update(va_score(pred, pos.labels))
    return result
