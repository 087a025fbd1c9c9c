"""`train`: a sequence model on clip vectors, selected on the frame-level validation score.

The loop is `abaw.training.fit` (AdamW, plateau scheduler, early stopping, checkpoints, DDP under
torchrun); this module supplies the sequence dataset, the masked batch CCC loss and the validation:
clip predictions of the whole validation split spread to its frames and scored with the official CCC
over every labelled frame. After training, a clip-wise ridge on the same vectors is scored the same way.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from abaw.distributed import init_distributed, is_main
from abaw.errors import AbawError
from abaw.losses import CCCLoss
from abaw.metrics import va_score
from abaw.positions import Positions, split_positions
from abaw.report import read_metrics, write_report
from abaw.runs import Run, create_run, seed_everything, setup_logging
from abaw.training import fit
from src_behavior_model.config import BehaviourConfig
from src_behavior_model.data import (
    ClipSplit,
    Sequences,
    gather,
    labelled_sequences,
    make_sequences,
    read_clips,
    spread,
)
from src_behavior_model.inference import predict_clips
from src_behavior_model.model import ClipModel, architecture
from src_behavior_model.ridge import fit_clip_ridge, ridge_baseline

log = logging.getLogger("abaw.behaviour")

STAGE = "src_behavior_model"
KIND = "behaviour_clip_model"


def checkpoint_arch(cfg: BehaviourConfig, clips: ClipSplit) -> dict[str, Any]:
    """The network plus the inputs it reads (vector names, widths and their producer)."""
    return {
        **architecture(cfg, clips.dim),
        "feature_dims": list(clips.feature_dims),
        "producer": clips.producer,
    }


class SequenceSet(Dataset):
    """Item i is sequence i; `collate` gathers a batch of sequences at once."""

    def __init__(self, seqs: Sequences, clips: ClipSplit, seq_len: int) -> None:
        self.seqs, self.clips, self.seq_len = seqs, clips, seq_len

    def __len__(self) -> int:
        return len(self.seqs)

    def __getitem__(self, i: int) -> int:
        return i

    def collate(self, items: list[int]) -> dict[str, torch.Tensor]:
        batch = gather(
            self.seqs, np.asarray(items, np.int64), self.seq_len, self.clips.features, self.clips.labels
        )
        del batch["rows"]
        return batch


class BehaviourTask:
    """Masked batch CCC on training sequences; the official CCC on every labelled validation frame."""

    def __init__(self, cfg: BehaviourConfig, val: ClipSplit | None, positions: Positions | None) -> None:
        self.cfg, self.val, self.positions = cfg, val, positions
        self.loss = CCCLoss(mode="batch", weights=cfg.train.loss_weights, mse_weight=cfg.train.mse_weight)

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        pred, _ = model(batch["features"], batch["mask"])
        return self.loss(pred, batch["target"], batch["mask"])

    def predict(self, model: ClipModel) -> np.ndarray:
        """Frame predictions of every validation position."""
        assert self.val is not None and self.positions is not None
        train = self.cfg.train
        clip_pred, _ = predict_clips(model, self.val, train.seq_len, train.stride, train.eval_batch_size)
        return spread(self.val, self.positions, clip_pred)

    def validate(self, model: nn.Module) -> dict[str, float]:
        assert self.positions is not None
        return va_score(self.predict(model), self.positions.labels)


WHITEN_FLOOR = 1e-3  # eigenvalue floor, relative to the mean eigenvalue (the ridge's smallest penalty)


def feature_stats(clips: ClipSplit) -> tuple[np.ndarray, np.ndarray]:
    """Train mean and a whitening matrix W: `(x - mean) @ W` has (nearly) identity covariance.

    Pooled language-model vectors are strongly correlated (standardised, their covariance spans
    eigenvalues from about 1e-5 to 30), so per-dimension scaling alone leaves the directions a linear
    fit relies on almost invisible to gradient descent. Whitening in the standardised space with a
    small eigenvalue floor, like a weakly penalised ridge, keeps near-constant directions from
    turning into amplified noise.
    """
    x = clips.features.astype(np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std < 1e-6] = 1.0
    eig, vec = np.linalg.eigh(np.cov(((x - mean) / std).T, bias=True).reshape(x.shape[1], x.shape[1]))
    eig = np.maximum(eig, 0.0) + WHITEN_FLOOR * max(float(eig.mean()), 1e-12)
    return mean, (vec / np.sqrt(eig)) @ vec.T / std[:, None]


def run_train(cfg: BehaviourConfig, resume_run: Run | None = None) -> dict[str, Any]:
    """Train on the train split, select on val; returns the summary (scores, ridge baseline, paths)."""
    init_distributed()
    if resume_run is None:
        setup_logging()  # console only until the inputs are known to be good
    train_cfg = cfg.train
    train = read_clips(cfg, "train")
    val = positions = None
    if is_main():
        val = read_clips(cfg, "val", expect=train)
        positions = split_positions(cfg.data, "val")
        if not np.isfinite(positions.labels).any():
            raise AbawError(
                f"{cfg.data.annotations}: the validation split has no labelled frame to select a model on"
            )
    seqs = labelled_sequences(
        make_sequences(train.offsets, train_cfg.seq_len, train_cfg.stride), train.labels
    )
    if len(seqs) == 0:
        raise AbawError(f"{train.source}: no train clip has a label; check the segments table's label column")
    run = resume_run or create_run(cfg.data.output_root, STAGE, train_cfg.name, cfg)
    log.info(
        "train: %d streams, %d clips, %d sequences of %d clips; %s vectors (%d-d); model %s",
        len(train.videos),
        train.n_clips,
        len(seqs),
        train_cfg.seq_len,
        "+".join(cfg.input.features),
        train.dim,
        cfg.model.kind,
    )
    arch = checkpoint_arch(cfg, train)
    seed_everything(train_cfg.seed)  # the initial weights depend on the seed alone
    model = ClipModel(arch)
    model.set_normalisation(*(torch.from_numpy(a) for a in feature_stats(train)))
    if cfg.model.ridge_skip:
        ridge = fit_clip_ridge(train)
        weight = ridge.weights / ridge.scale[:, None]
        model.set_ridge(torch.from_numpy(weight), torch.from_numpy(ridge.bias - ridge.mean @ weight))
        log.info("ridge read-out: penalty %g chosen on held-out train videos", ridge.penalty)
    if cfg.model.kind == "mamba" and model.use_kernel(cfg.model.mamba.kernel):
        log.info("selective scan: mamba_ssm CUDA kernel")
    dataset = SequenceSet(seqs, train, train_cfg.seq_len)
    task = BehaviourTask(cfg, val, positions)
    summary = fit(
        model,
        task,
        dataset,
        train_cfg,
        run,
        kind=KIND,
        arch=arch,
        collate_fn=dataset.collate,
        resume=resume_run is not None,
    )
    if not is_main():
        return summary
    return finish_report(cfg, run, summary, model, task, train)


def finish_report(
    cfg: BehaviourConfig,
    run: Run,
    summary: dict[str, Any],
    model: ClipModel,
    task: BehaviourTask,
    train: ClipSplit,
) -> dict[str, Any]:
    """Score the best model again, add the clip-wise ridge baseline, and rewrite the report."""
    assert task.val is not None and task.positions is not None
    score = va_score(task.predict(model), task.positions.labels)
    result = {
        **summary,
        "val_score": score["score"],
        "val_ccc_valence": score["ccc_valence"],
        "val_ccc_arousal": score["ccc_arousal"],
    }
    if cfg.train.ridge_baseline:
        ridge = ridge_baseline(train, task.val, task.positions)
        result.update(
            {
                "ridge_score": ridge["score"],
                "ridge_ccc_valence": ridge["ccc_valence"],
                "ridge_ccc_arousal": ridge["ccc_arousal"],
                "ridge_penalty": ridge["penalty"],
                "gain_over_ridge": score["score"] - ridge["score"],
            }
        )
    shown = {k: v for k, v in result.items() if k not in ("best_metrics", "run_dir")}
    write_report(
        run.report_path,
        f"Behaviour {cfg.model.kind} model: run {run.dir.name}",
        shown,
        read_metrics(run.metrics_path),
        images=(run.curves_path.name,),
    )
    return result
