"""`predict`: a trained checkpoint on a template (flat submission, validated) or on a split (per-video TXT).

On a labelled split the official score is computed over every labelled frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from abaw.errors import AbawError
from abaw.metrics import va_score
from abaw.positions import contiguous, write_submission_checked
from abaw.submission import write_video_txts
from src_visual_dynamic_model.config import VisualConfig
from src_visual_dynamic_model.data import load_split
from src_visual_dynamic_model.inference import predict_split
from src_visual_dynamic_model.model import TemporalTransformer


def predict(cfg: VisualConfig, model: TemporalTransformer, out: Path, template: Path | None = None,
            split: str | None = None) -> dict[str, Any]:
    """Template mode writes the flat submission to `out`; split mode writes `<out>/<video>.txt`."""
    train = cfg.train
    name = "test" if template is not None else split or "val"
    data = load_split(cfg, name, expect_dim=model.arch.input_dim, template=template)
    pred, _ = predict_split(model, data, train.window, train.hop_length, train.eval_batch_size,
                            train.time_delay, train.stitch, amp=train.amp, amp_dtype=train.amp_dtype)
    result: dict[str, Any] = {"videos": len(data.videos), "frames": data.n_frames}
    if template is not None:
        result["submission"] = str(write_submission_checked(out, template, data, pred))
        return result
    if not contiguous(data):
        raise AbawError(f"{data.split}: the frames of some videos are not 1..n, so per-video TXT files "
                        "(line k = frame k) cannot hold them; use --template for a flat submission")
    write_video_txts(out, data.videos, data.offsets, pred)
    result["predictions"] = str(out)
    if np.isfinite(data.labels).any():
        result.update(va_score(pred, data.labels))
    return result
