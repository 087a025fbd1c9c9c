"""Whole-split inference: every window of every video through the model, stitched back to every frame.

Windows (hop plus an end-aligned one) cover every frame, and overlapping window outputs are averaged
per frame (`abaw.windows.stitch`), so each frame of the split gets a prediction: coverage is 100 %.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from abaw.windows import stitch
from src_visual_dynamic_model.data import SplitData, gather, make_windows, shift_back
from src_visual_dynamic_model.model import TemporalTransformer

# Windows per forward group: the stitched outputs of one group of videos are held at once.
GROUP_WINDOWS = 256


@torch.no_grad()
def predict_split(model: TemporalTransformer, data: SplitData, window: int, hop: int, batch_size: int,
                  delay: int = 0, weighting: str = "mean", embeddings: bool = False,
                  device: torch.device | None = None, amp: bool = False
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-frame predictions float32 [N,2] (and embeddings [N,E]) for every frame of `data`."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    windows = make_windows(data.offsets, window, hop)
    width = 2 + (model.arch.head_dim if embeddings else 0)
    out = np.empty((data.n_frames, width), np.float32)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.float16)) if amp and device.type == "cuda" \
        else contextlib.nullcontext
    # Videos are processed in groups whose windows are run in batches, then stitched video by video.
    bounds = np.searchsorted(windows.video, np.arange(len(data.videos) + 1))
    first = 0
    while first < len(data.videos):
        last = int(np.searchsorted(bounds, bounds[first] + GROUP_WINDOWS, side="right")) - 1
        last = max(last, first + 1)
        chosen = np.arange(bounds[first], bounds[last])
        values = np.empty((len(chosen), window, width), np.float32)
        for s in range(0, len(chosen), batch_size):
            batch = gather(windows, chosen[s:s + batch_size], window, data.features)
            with autocast():
                pred, emb = model(batch["features"].to(device), batch["mask"].to(device))
            parts = [pred] + ([emb] if embeddings else [])
            values[s:s + batch_size] = torch.cat([p.float() for p in parts], dim=-1).cpu().numpy()
        for v in range(first, last):
            k = slice(bounds[v] - bounds[first], bounds[v + 1] - bounds[first])
            rows = data.rows(v)
            starts = windows.row[chosen[k]] - rows.start
            out[rows] = stitch(rows.stop - rows.start, starts, values[k], weighting)
        first = last
    model.train(was_training)
    out = shift_back(out, data.offsets, delay)
    return out[:, :2], (out[:, 2:] if embeddings else None)
