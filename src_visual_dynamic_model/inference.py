"""Whole-split inference: every window of every video through the model, stitched back to every frame.

Windows (hop plus an end-aligned one) cover every frame, and overlapping window outputs are averaged
per frame (`abaw.windows.stitch`), so each frame of the split gets a prediction: coverage is 100 %.
"""

from __future__ import annotations

import numpy as np
import torch

from abaw.training import autocast, autocast_dtype
from abaw.windows import stitch
from src_visual_dynamic_model.data import SplitData, fit_window, gather, make_windows, shift_back
from src_visual_dynamic_model.model import TemporalTransformer

# Windows per forward group: the stitched outputs of one group of videos are held at once.
GROUP_WINDOWS = 256


@torch.no_grad()
def predict_split(model: TemporalTransformer, data: SplitData, window: int, hop: int, batch_size: int,
                  delay: int = 0, weighting: str = "mean", embeddings: bool = False,
                  device: torch.device | None = None, amp: bool = False, amp_dtype: str = "float16"
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-frame predictions float32 [N,2] (and embeddings [N,E]) for every frame of `data`.

    Windows run on the split's frame grid (`SplitData.grid`), then each row reads its frame's output.

    `amp`/`amp_dtype` are `train.amp`/`train.amp_dtype`: the precision of training is that of inference."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    grid = data.grid
    window = fit_window(window, grid.offsets)
    windows = make_windows(grid.offsets, window, min(hop, window))
    width = 2 + (model.arch.head_dim if embeddings else 0)
    out = np.empty((grid.size, width), np.float32)
    dtype = autocast_dtype(amp, amp_dtype, device)
    # Videos are processed in groups whose windows are run in batches, then stitched video by video.
    bounds = np.searchsorted(windows.video, np.arange(len(data.videos) + 1))
    first = 0
    while first < len(data.videos):
        last = int(np.searchsorted(bounds, bounds[first] + GROUP_WINDOWS, side="right")) - 1
        last = max(last, first + 1)
        chosen = np.arange(bounds[first], bounds[last])
        values = np.empty((len(chosen), window, width), np.float32)
        for s in range(0, len(chosen), batch_size):
            batch = gather(windows, chosen[s:s + batch_size], window, data.features, rows=grid.rows)
            with autocast(device.type, dtype):
                pred, emb = model(batch["features"].to(device), batch["mask"].to(device))
            parts = [pred] + ([emb] if embeddings else [])
            values[s:s + batch_size] = torch.cat([p.float() for p in parts], dim=-1).cpu().numpy()
        for v in range(first, last):
            k = slice(bounds[v] - bounds[first], bounds[v + 1] - bounds[first])
            start, stop = int(grid.offsets[v]), int(grid.offsets[v + 1])
            out[start:stop] = stitch(stop - start, windows.row[chosen[k]] - start, values[k], weighting)
        first = last
    model.train(was_training)
    out = shift_back(out, grid.offsets, delay)[grid.slots]
    return out[:, :2], (out[:, 2:] if embeddings else None)
