"""`train-audio`: WavLM + per-second pooling and head, selected on the frame-level validation score.

The loop is `abaw.training.fit` (AdamW with two parameter groups, plateau scheduler, early stopping, EMA
of the weights swapped in for validation so the saved best checkpoint is the validated one, DDP under
torchrun). Training windows are the reliable ones with at least `min_labelled_steps` labelled bins;
validation scores every frame of every validation stream from all its windows.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from abaw.distributed import init_distributed, is_main
from abaw.errors import AbawError
from abaw.losses import CCCLoss
from abaw.metrics import va_score
from abaw.report import read_metrics, write_report
from abaw.runs import Run, create_run, seed_everything, setup_logging
from abaw.training import fit
from src_audio_and_fusion.audio_windows import load_windows, split_streams
from src_audio_and_fusion.augment import Augmenter
from src_audio_and_fusion.config import SAMPLE_RATE, StageConfig, wav_dir
from src_audio_and_fusion.data import TrainWindows, WindowReader, training_rows
from src_audio_and_fusion.model import Architecture, AudioModel, load_backbone, set_trainable
from src_audio_and_fusion.ridge import ridge_baseline
from src_audio_and_fusion.spread import FrameLayout, interpolate

log = logging.getLogger("abaw.audio")

STAGE = "src_audio_and_fusion"
KIND = "audio_wavlm_steps"
# Fields of a transformers config that say where it came from, not what it builds.
BOOKKEEPING = ("transformers_version", "_name_or_path", "architectures", "dtype", "torch_dtype", "id2label",
               "label2id")


def window_samples(cfg: StageConfig) -> int:
    return round(cfg.windows.length * SAMPLE_RATE)


@torch.no_grad()
def predict_windows(model: AudioModel, reader: WindowReader, batch_size: int,
                    rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Step predictions float32 [K, S, 2] and embeddings float32 [K, S, D] of the given windows (all)."""
    rows = np.arange(len(reader)) if rows is None else rows
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    preds, embs = [], []
    for a in range(0, len(rows), batch_size):
        batch = reader.batch(rows[a:a + batch_size])
        pred, emb = model(batch["wave"].to(device), batch["mask"].to(device))
        preds.append(pred.float().cpu().numpy())
        embs.append(emb.float().cpu().numpy())
    model.train(was_training)
    steps, dim = model.arch.steps, model.arch.head_dim
    if not preds:
        return np.zeros((0, steps, 2), np.float32), np.zeros((0, steps, dim), np.float32)
    return np.concatenate(preds), np.concatenate(embs)


class AudioTask:
    """Masked CCC + MSE loss on training bins; official CCC on every validation frame."""

    def __init__(self, cfg: StageConfig, val: WindowReader | None, val_labels: np.ndarray | None) -> None:
        self.cfg, self.val, self.val_labels = cfg, val, val_labels
        t = cfg.train_audio
        self.loss = CCCLoss(mode="batch", weights=t.loss_weights, mse_weight=t.mse_weight)
        self.layout = FrameLayout.of(val.table) if val is not None else None

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        pred, _ = model(batch["wave"], batch["mask"])
        return self.loss(pred, batch["target"], batch["valid"])

    def predict_frames(self, model: AudioModel) -> np.ndarray:
        assert self.val is not None and self.layout is not None
        steps, _ = predict_windows(model, self.val, self.cfg.train_audio.eval_batch_size)
        return interpolate(self.val.table, self.layout, steps)

    def validate(self, model: nn.Module) -> dict[str, float]:
        return va_score(self.predict_frames(model), self.val_labels)


def split_labels(cfg: StageConfig, split: str, reader: WindowReader) -> np.ndarray:
    """Frame labels [N, 2] of a split, checked to line up with the frames its windows table covers."""
    streams = split_streams(cfg, split)
    layout = FrameLayout.of(reader.table)
    same = np.array_equal(streams.videos, layout.videos) and np.array_equal(streams.offsets, layout.offsets)
    if not same:
        raise AbawError(f"the {split} windows table does not match the current annotations; rerun "
                        f"`main.py windows --split {split}`")
    return streams.labels


def make_architecture(cfg: StageConfig, backbone: nn.Module, scale: float) -> Architecture:
    a = cfg.audio
    return Architecture(backbone=backbone.config.to_dict(), steps=cfg.windows.steps,
                        window_samples=window_samples(cfg), pool_hidden=a.pool_hidden, head_dim=a.head_dim,
                        dropout=a.dropout, normalise=a.normalise, global_scale=scale)


def checkpoint_arch(arch: Architecture) -> dict[str, Any]:
    """What a checkpoint records: the network (without the backbone's bookkeeping fields)."""
    plain = arch.to_dict()
    plain["backbone"] = {k: v for k, v in plain["backbone"].items()
                         if k not in BOOKKEEPING}
    return plain


def run_train(cfg: StageConfig, resume_run: Run | None = None) -> dict[str, Any]:
    init_distributed()
    if resume_run is None:
        setup_logging()
    t = cfg.train_audio
    folder = wav_dir(cfg)
    train_table = load_windows(cfg, "train")
    train = WindowReader(train_table, folder, window_samples(cfg))
    rows = training_rows(train_table, t.min_labelled_steps, t.only_reliable)
    if rows.size == 0:
        raise AbawError("no training window: none is reliable with at least "
                        f"{t.min_labelled_steps} labelled steps; check [reliability] or set "
                        "train_audio.only_reliable = false")
    val = val_labels = None
    if is_main():
        val = WindowReader(load_windows(cfg, "val"), folder, window_samples(cfg))
        val_labels = split_labels(cfg, "val", val)
        if not np.isfinite(val_labels).any():
            raise AbawError(f"{cfg.data.annotations}: the validation split has no labelled frame")
    run = resume_run or create_run(cfg.data.output_root, STAGE, t.name, cfg)
    log.info("train: %d of %d windows (reliable, >= %d labelled steps)", rows.size, train_table.n_rows,
             t.min_labelled_steps)
    seed_everything(t.seed)
    backbone = load_backbone(cfg.audio)
    trainable = set_trainable(backbone, cfg.audio.trainable_layers)
    scale = train.global_scale(rows, seed=t.seed) if cfg.audio.normalise == "global" else 1.0
    arch = make_architecture(cfg, backbone, scale)
    model = AudioModel(backbone, arch)
    log.info("backbone: %d trainable parameters; head and pooling: %d", trainable,
             sum(p.numel() for p in model.head_parameters()))
    groups = [{"params": model.head_parameters(), "lr": t.lr}]
    if model.backbone_parameters():
        groups.append({"params": model.backbone_parameters(), "lr": t.backbone_lr})
    dataset = TrainWindows(train, rows, Augmenter(cfg.augment, seed=t.seed))
    task = AudioTask(cfg, val, val_labels)
    summary = fit(model, task, dataset, t, run, kind=KIND, arch=checkpoint_arch(arch),
                  collate_fn=dataset.collate, param_groups=groups, resume=resume_run is not None)
    if not is_main():
        return summary
    return finish_report(cfg, run, summary, model, task, train, rows)


def finish_report(cfg: StageConfig, run: Run, summary: dict[str, Any], model: AudioModel, task: AudioTask,
                  train: WindowReader, rows: np.ndarray) -> dict[str, Any]:
    """Add the best epoch's scores and the loudness/pitch ridge, and rewrite the report."""
    assert task.val is not None and task.val_labels is not None
    model.eval()
    score = summary["best_metrics"]  # validated with the weights the model holds now
    if not {"score", "ccc_valence", "ccc_arousal"} <= score.keys():  # no epoch scored: score what there is
        score = va_score(task.predict_frames(model), task.val_labels)
    result = {**summary, "val_score": score["score"], "val_ccc_valence": score["ccc_valence"],
              "val_ccc_arousal": score["ccc_arousal"], "train_windows": int(rows.size)}
    if cfg.train_audio.ridge_baseline:
        ridge = ridge_baseline(train, rows, task.val, task.val_labels)
        result.update({"ridge_score": ridge["score"], "ridge_ccc_valence": ridge["ccc_valence"],
                       "ridge_ccc_arousal": ridge["ccc_arousal"],
                       "gain_over_ridge": score["score"] - ridge["score"]})
    shown = {k: v for k, v in result.items() if k not in ("best_metrics", "run_dir")}
    write_report(run.report_path, f"Audio model: run {run.dir.name}", shown, read_metrics(run.metrics_path),
                 images=(run.curves_path.name,))
    return result
