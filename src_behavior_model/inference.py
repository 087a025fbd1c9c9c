"""Whole-split inference: every sequence of every stream through the model, overlapping clips averaged.

Sequences (stride plus an end-aligned one) cover every clip, so every clip gets an output; a clip seen by
several sequences takes the mean of their outputs.
"""

from __future__ import annotations

import numpy as np
import torch

from src_behavior_model.data import ClipSplit, gather, make_sequences
from src_behavior_model.model import ClipModel


@torch.no_grad()
def predict_clips(
    model: ClipModel, clips: ClipSplit, seq_len: int, stride: int, batch_size: int, embeddings: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Clip predictions float32 [K, 2] (and embeddings [K, H]) for every clip of `clips`."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    seqs = make_sequences(clips.offsets, seq_len, stride)
    width = 2 + (model.arch["head_dim"] if embeddings else 0)
    total = np.zeros((clips.n_clips, width), np.float64)
    count = np.zeros(clips.n_clips, np.int64)
    for s in range(0, len(seqs), batch_size):
        chosen = np.arange(s, min(s + batch_size, len(seqs)))
        batch = gather(seqs, chosen, seq_len, clips.features)
        pred, emb = model(batch["features"].to(device), batch["mask"].to(device))
        values = torch.cat([pred, emb] if embeddings else [pred], dim=-1).float().cpu().numpy()
        mask = batch["mask"].numpy()
        rows = batch["rows"].numpy()[mask]
        np.add.at(total, rows, values[mask])
        np.add.at(count, rows, 1)
    model.train(was_training)
    out = (total / np.maximum(count, 1)[:, None]).astype(np.float32)
    return out[:, :2], (out[:, 2:] if embeddings else None)
