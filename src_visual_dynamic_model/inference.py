"""Whole-split inference: every window of every video through the model, stitched back to every frame.

Windows (hop plus an end-aligned one) cover every frame, and overlapping window outputs are averaged
per frame (`abaw.windowed.predict_stitched`), so each frame of the split gets a prediction: coverage is
100 %.
"""

from __future__ import annotations

import numpy as np
import torch

from abaw.training import autocast, autocast_dtype
from abaw.windowed import predict_stitched
from src_visual_dynamic_model.data import SplitData
from src_visual_dynamic_model.model import TemporalTransformer


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
    dtype = autocast_dtype(amp, amp_dtype, device)

    def forward(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with autocast(device.type, dtype):
            pred, emb = model(batch["features"].to(device), batch["mask"].to(device))
        return torch.cat([pred.float()] + ([emb.float()] if embeddings else []), dim=-1)

    width = 2 + (model.arch.head_dim if embeddings else 0)
    out = predict_stitched(forward, data.grid, {"features": data.features}, width, window, hop, batch_size,
                           delay, weighting)
    model.train(was_training)
    return out[:, :2], (out[:, 2:] if embeddings else None)
