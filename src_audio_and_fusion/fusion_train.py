"""`train-fusion`: RAAV trained with `abaw.training.fit`, selected on the frame-level validation score.

Training samples are the windows with at least one labelled frame; the loss is 0.7 (1 - CCC_V) +
0.3 (1 - CCC_A) + 0.01 MSE over the valid frames of the batch. Validation predicts every window, averages
overlapping windows per frame, fills uncovered frames from the nearest covered one and scores every
labelled validation frame. The reliability mask is part of the model's input, so training, validation,
export and test all treat a window's audio the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from abaw.distributed import init_distributed, is_main
from abaw.errors import AbawError
from abaw.losses import CCCLoss
from abaw.metrics import va_score
from abaw.report import read_metrics, write_report
from abaw.runs import Run, create_run, seed_everything, setup_logging
from abaw.training import fit
from abaw.windows import stitch
from src_audio_and_fusion.config import StageConfig
from src_audio_and_fusion.fusion_data import FusionSplit, load_split, modality_predictions
from src_audio_and_fusion.fusion_model import RAAV, FusionArch

log = logging.getLogger("abaw.fusion")

STAGE = "src_audio_and_fusion"
KIND = "raav_fusion"


class Samples(Dataset):
    """Sample indices of a split; the collate function gathers a whole batch at once."""

    def __init__(self, data: FusionSplit, idx: np.ndarray) -> None:
        self.data, self.idx = data, idx

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: int) -> int:
        return int(self.idx[i])

    def collate(self, items: list[int]) -> dict[str, torch.Tensor]:
        return self.data.batch(items)


@dataclass
class FramePredictions:
    """Stitched per-frame outputs of a split at its positions."""

    prediction: np.ndarray  # float32 [P, 2]
    gate: np.ndarray  # float32 [P, M]
    hidden: np.ndarray | None  # [P, H] when asked for


def _stitched(data: FusionSplit, values: np.ndarray, valid: np.ndarray, block: int = 32) -> np.ndarray:
    """Window values [K, W, C] averaged per grid frame, nearest filled, at the split's positions."""
    out = np.empty((len(data.position_rows), values.shape[2]), np.float32)
    for a in range(0, values.shape[2], block):  # a block of channels keeps stitch's float64 copy small
        grid = stitch(data.n_frames, data.starts, values[:, :, a:a + block], valid=valid)
        out[:, a:a + block] = data.to_positions(data.layout.fill(grid))
    return out


@torch.no_grad()
def predict_split(model: RAAV, data: FusionSplit, batch_size: int, hidden: bool = False,
                  hidden_dtype: str = "float16") -> FramePredictions:
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    k, w = data.n_samples, data.width
    preds = np.zeros((k, w, 2 + len(data.modalities)), np.float32)
    hid = np.zeros((k, w, model.arch.hidden), hidden_dtype) if hidden else None
    for a in range(0, k, batch_size):
        idx = np.arange(a, min(a + batch_size, k))
        out = model({key: v.to(device) for key, v in data.batch(idx).items()})
        preds[idx] = torch.cat([out["prediction"], out["gate"]], dim=-1).float().cpu().numpy()
        if hid is not None:
            hid[idx] = out["hidden"].float().cpu().numpy().astype(hidden_dtype)
    model.train(was_training)
    _, mask = data.sample_rows(np.arange(k))
    values = _stitched(data, preds, mask)
    return FramePredictions(np.clip(values[:, :2], -1, 1), values[:, 2:],
                            _stitched(data, hid, mask).astype(hidden_dtype) if hid is not None else None)


class FusionTask:
    def __init__(self, cfg: StageConfig, val: FusionSplit | None) -> None:
        t = cfg.train_fusion
        self.cfg, self.val = cfg, val
        self.loss = CCCLoss(mode="batch", weights=t.loss_weights, mse_weight=t.mse_weight)

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = model(batch)
        return self.loss(out["prediction"], batch["target"], batch["mask"])

    def validate(self, model: nn.Module) -> dict[str, float]:
        assert self.val is not None
        pred = predict_split(model, self.val, self.cfg.train_fusion.eval_batch_size).prediction
        return va_score(pred, self.val.positions.labels)


def make_arch(cfg: StageConfig, data: FusionSplit) -> FusionArch:
    f = cfg.fusion
    audio = data.audio
    return FusionArch(modalities=f.modalities, dims=tuple(m.dim for m in data.modalities), priors=f.priors,
                      audio_dim=audio.dim if audio is not None else 0,
                      audio_steps=audio.steps if audio is not None else 0, hidden=f.hidden, heads=f.heads,
                      latents=f.latents, gate_hidden=f.gate_hidden, dropout=f.dropout,
                      residual=f.residual)


def check_same_inputs(arch: FusionArch, data: FusionSplit, where: str) -> None:
    """A split must bring what the model was built for: the same modalities with the same widths."""
    dims = tuple(m.dim for m in data.modalities)
    audio = data.audio.dim if data.audio is not None else 0
    if dims != arch.dims or audio != arch.audio_dim:
        raise AbawError(f"{where}: the {data.split} inputs have widths {dims} (audio {audio}) but the model "
                        f"takes {arch.dims} (audio {arch.audio_dim}); export every split with the same "
                        "models")


def run_train(cfg: StageConfig) -> dict[str, Any]:
    init_distributed()
    setup_logging()
    t = cfg.train_fusion
    train = load_split(cfg, "train")
    rows = train.labelled_samples()
    if rows.size == 0:
        raise AbawError(f"{cfg.data.annotations}: no training window has a labelled frame")
    val = None
    seed_everything(t.seed)
    arch = make_arch(cfg, train)
    if is_main():
        val = load_split(cfg, "val")
        check_same_inputs(arch, val, "val")
        if not np.isfinite(val.positions.labels).any():
            raise AbawError(f"{cfg.data.annotations}: the validation split has no labelled frame")
    run = create_run(cfg.data.output_root, STAGE, t.name, cfg)
    reliable = int(train.audio.reliable[rows].sum()) if train.audio is not None else 0
    log.info("train: %d of %d windows with labels (%d with reliable audio); modalities %s", rows.size,
             train.n_samples, reliable, ", ".join(cfg.fusion.modalities))
    model = RAAV(arch)
    dataset = Samples(train, rows)
    task = FusionTask(cfg, val)
    summary = fit(model, task, dataset, t, run, kind=KIND, arch=arch, collate_fn=dataset.collate)
    if not is_main():
        return summary
    assert val is not None
    return finish_report(cfg, run, summary, model, val)


def breakdown(model: RAAV, data: FusionSplit, batch_size: int) -> dict[str, float]:
    """Validation scores of each input alone, of the fusion with and without a face crop, gate means."""
    frames = predict_split(model, data, batch_size)
    labels = data.positions.labels
    out: dict[str, float] = {"val_score": va_score(frames.prediction, labels)["score"]}
    for name, pred in modality_predictions(data).items():
        usable = np.isfinite(pred).all(axis=1)
        out[f"{name}_score"] = va_score(pred[usable], labels[usable])["score"]
    labelled = np.isfinite(labels).all(axis=1)
    for m, mod in enumerate(data.modalities):
        out[f"gate_{mod.name}"] = float(frames.gate[labelled, m].mean())
    face = next((m for m in data.modalities if m.name == "face"), None)
    if face is not None:
        crop = data.to_positions(face.valid)
        for what, sel in (("with_face", crop), ("without_face", ~crop)):
            if (sel & labelled).sum() > 1:
                out[f"fused_{what}"] = va_score(frames.prediction[sel], labels[sel])["score"]
                out[f"face_{what}"] = va_score(data.to_positions(face.prediction[face.rows])[sel],
                                               labels[sel])["score"]
            out[f"frames_{what}"] = int((sel & labelled).sum())
    return out


def finish_report(cfg: StageConfig, run: Run, summary: dict[str, Any], model: RAAV,
                  val: FusionSplit) -> dict[str, Any]:
    model.eval()
    result = {**summary, **breakdown(model, val, cfg.train_fusion.eval_batch_size)}
    singles = [result[f"{name}_score"] for name in (*cfg.fusion.modalities, "audio")
               if f"{name}_score" in result]
    if singles:
        result["gain_over_best_single"] = result["val_score"] - max(singles)
    shown = {k: v for k, v in result.items() if k not in ("best_metrics", "run_dir")}
    write_report(run.report_path, f"RAAV fusion: run {run.dir.name}", shown, read_metrics(run.metrics_path),
                 images=(run.curves_path.name,))
    return result
