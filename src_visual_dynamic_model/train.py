"""`train`: the temporal model on windows of frame features, selected on the official validation score.

The loop itself is `abaw.training.fit` (AdamW, plateau scheduler, early stopping, checkpoints, DDP under
torchrun); this module supplies the window dataset, the masked CCC loss and the full-coverage
validation, then adds the frame-wise ridge baseline and VA traces of validation videos to the report.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from abaw.distributed import init_distributed, is_main
from abaw.losses import CCCLoss
from abaw.metrics import va_score
from abaw.report import read_metrics, write_report
from abaw.runs import Run, create_run, seed_everything, setup_logging
from abaw.training import fit, require_val_labels
from abaw.windowed import WindowSet, training_windows
from src_visual_dynamic_model.config import VisualConfig, backbone_sha
from src_visual_dynamic_model.data import SplitData, load_split
from src_visual_dynamic_model.inference import predict_split
from src_visual_dynamic_model.model import Architecture, TemporalTransformer, build_model
from src_visual_dynamic_model.ridge import ridge_baseline
from src_visual_dynamic_model.traces import plot_traces

log = logging.getLogger("abaw.visual")

STAGE = "src_visual_dynamic_model"
KIND = "visual_temporal_transformer"


def checkpoint_arch(cfg: VisualConfig, input_dim: int) -> dict[str, Any]:
    """What a checkpoint must match to be used with a config: the network and the features it reads."""
    arch = Architecture(input_dim=input_dim, **vars(cfg.model))
    return {"model": arch.to_dict(), "backbone": backbone_sha(cfg)}


def feature_stats(features: np.ndarray, rows: np.ndarray, chunk: int = 262144
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std [D] over the rows flagged in `rows`, accumulated in float64 chunk by chunk."""
    total = np.zeros(features.shape[1])
    squares = np.zeros(features.shape[1])
    count = 0
    for s in range(0, len(features), chunk):
        x = features[s:s + chunk][rows[s:s + chunk]].astype(np.float64)
        total += x.sum(axis=0)
        squares += (x * x).sum(axis=0)
        count += len(x)
    if count == 0:
        return total, np.ones_like(total)
    mean = total / count
    return mean, np.sqrt(np.maximum(squares / count - mean * mean, 0.0))


class VisualTask:
    """Loss on training windows; official CCC on every frame of the validation split."""

    def __init__(self, cfg: VisualConfig, val: SplitData | None) -> None:
        self.cfg, self.val = cfg, val
        train = cfg.train
        self.loss = CCCLoss(mode=train.loss_mode, weights=train.loss_weights, mse_weight=train.mse_weight)

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        pred, _ = model(batch["features"], batch["mask"])
        with torch.autocast(pred.device.type, enabled=False):  # CCC moments lose too much in bfloat16
            return self.loss(pred.float(), batch["target"], batch["mask"])

    def predict(self, model: TemporalTransformer) -> np.ndarray:
        train = self.cfg.train
        pred, _ = predict_split(model, self.val, train.window, train.hop_length, train.eval_batch_size,
                                train.time_delay, train.stitch, amp=train.amp,
                                amp_dtype=train.amp_dtype)
        return pred

    def validate(self, model: nn.Module) -> dict[str, float]:
        return va_score(self.predict(model), self.val.labels)


def run_train(cfg: VisualConfig, resume_run: Run | None = None) -> dict[str, Any]:
    """Train on the train split, select on val; returns the summary (scores, baseline, paths)."""
    init_distributed(cfg.train.device)
    if resume_run is None:
        setup_logging()  # console only: the run directory is created once the inputs are known to be good
    train_cfg = cfg.train
    train = load_split(cfg, "train")
    val = load_split(cfg, "val", expect_dim=train.dim) if is_main() else None
    require_val_labels(None if val is None else val.labels, cfg.data.annotations)
    run = resume_run or create_run(cfg.data.output_root, STAGE, cfg.train.name, cfg)
    grid = train.grid
    targets, window, windows = training_windows(grid, train.labels, train_cfg.window, train_cfg.hop_length,
                                                train_cfg.time_delay)
    log.info("train: %d videos, %d frames, %d windows of %d frames; %d-d features",
             len(train.videos), train.n_frames, len(windows), window, train.dim)
    arch = checkpoint_arch(cfg, train.dim)
    seed_everything(train_cfg.seed)  # the initial weights depend on the seed alone
    model = build_model(Architecture(**arch["model"]))
    model.set_normalisation(*(torch.from_numpy(a) for a in feature_stats(train.features, train.face)))
    dataset = WindowSet(windows, {"features": train.features}, targets, window, grid.rows)
    task = VisualTask(cfg, val)
    summary = fit(model, task, dataset, train_cfg, run, kind=KIND, arch=arch, collate_fn=dataset.collate,
                  resume=resume_run is not None)
    if not is_main():
        return summary
    return finish_report(cfg, run, summary, model, task, train, targets[grid.slots])


def finish_report(cfg: VisualConfig, run: Run, summary: dict[str, Any], model: TemporalTransformer,
                  task: VisualTask, train: SplitData, targets: np.ndarray) -> dict[str, Any]:
    """Score the best model again, add the ridge baseline and VA traces, and rewrite the report."""
    val = task.val
    assert val is not None
    pred = task.predict(model)
    score = va_score(pred, val.labels)
    result = {**summary, "val_score": score["score"], "val_ccc_valence": score["ccc_valence"],
              "val_ccc_arousal": score["ccc_arousal"]}
    if cfg.train.ridge_baseline:
        ridge = ridge_baseline(train, targets, val, cfg.train.time_delay)
        result.update({"ridge_score": ridge["score"], "ridge_ccc_valence": ridge["ccc_valence"],
                       "ridge_ccc_arousal": ridge["ccc_arousal"],
                       "gain_over_ridge": score["score"] - ridge["score"]})
    traces = plot_traces(run.dir / "val_traces.png", val, pred, cfg.train.trace_videos)
    images = (run.curves_path.name, traces.name)
    shown = {k: v for k, v in result.items() if k not in ("best_metrics", "run_dir")}
    write_report(run.report_path, f"Visual temporal model: run {run.dir.name}", shown,
                 read_metrics(run.metrics_path), images=images)
    result["val_traces_png"] = str(traces)
    return result
