"""Whole-split inference through the shared stitched pipeline: predictions, embeddings and gate weights
for every frame of a split (coverage 100 %)."""

from __future__ import annotations

import numpy as np
import torch

from abaw.training import autocast, autocast_dtype
from abaw.windowed import predict_stitched
from src_fusion_model.config import TrainConfig
from src_fusion_model.data import FusionSplit
from src_fusion_model.model import DCMMOE


def split_batch(batch: dict[str, torch.Tensor], device: torch.device
                ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    """A gathered batch as the model's (inputs, valid, mask)."""
    inputs = {k[2:]: v.to(device) for k, v in batch.items() if k.startswith("x/")}
    valid = {k[2:]: v.to(device) for k, v in batch.items() if k.startswith("v/")}
    return inputs, valid, batch["mask"].to(device)


@torch.no_grad()
def predict_split(model: DCMMOE, data: FusionSplit, train: TrainConfig
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 predictions [N,2], embeddings [N,E] and gate weights [N,experts] for every frame."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    dtype = autocast_dtype(train.amp, train.amp_dtype, device)

    def forward(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with autocast(device.type, dtype):
            pred, emb, gate = model(*split_batch(batch, device))
        return torch.cat([pred.float(), emb.float(), gate.float()], dim=-1)

    head, experts = model.arch.head_dim, len(model.arch.experts)
    out = predict_stitched(forward, data.grid, data.arrays(), 2 + head + experts, train.window,
                           train.hop_length, train.eval_batch_size)
    model.train(was_training)
    return out[:, :2], out[:, 2:2 + head], out[:, 2 + head:]
