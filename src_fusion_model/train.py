"""`train`: DCMMOE on windows of aligned modality rows, selected on the official frame-level validation score.

The loop is `abaw.training.fit` (AdamW, plateau scheduler, early stopping, checkpoints, DDP under
torchrun); this module supplies the windows, the masked CCC loss with the optional load-balancing term,
and the full-coverage validation, then adds the gate's mean weight per expert on validation and a plot
of gate weights over time to the report.
"""

from __future__ import annotations

import dataclasses
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
from src_fusion_model.config import FusionConfig
from src_fusion_model.data import FusionSplit, load_split, read_modality
from src_fusion_model.gates import gate_means, plot_gates
from src_fusion_model.inference import predict_split, split_batch
from src_fusion_model.model import DCMMOE, Architecture, build_model

log = logging.getLogger("abaw.fusion")

STAGE = "src_fusion_model"
KIND = "fusion_dcmmoe"


def architecture(cfg: FusionConfig, dims: dict[str, int]) -> Architecture:
    names = cfg.modalities.names
    return Architecture(modalities=names, input_dims=tuple(dims[n] for n in names), **vars(cfg.model))


def balance_loss(weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """0 when the experts share the real frames' weight evenly, up to experts - 1 when one takes it all."""
    share = weights[mask].mean(dim=0)
    return len(share) * (share * share).sum() - 1.0


class FusionTask:
    """Loss on training windows; official CCC on every frame of the validation split."""

    def __init__(self, cfg: FusionConfig, val: FusionSplit | None) -> None:
        self.cfg, self.val = cfg, val
        self.loss = CCCLoss(weights=cfg.train.loss_weights)

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs, valid, mask = split_batch(batch, batch["mask"].device)
        pred, _, weights = model(inputs, valid, mask)
        with torch.autocast(pred.device.type, enabled=False):  # CCC moments lose too much in bfloat16
            loss = self.loss(pred.float(), batch["target"], mask)
            if self.cfg.train.balance_weight > 0:
                loss = loss + self.cfg.train.balance_weight * balance_loss(weights.float(), mask.bool())
        return loss

    def validate(self, model: nn.Module) -> dict[str, float]:
        assert self.val is not None
        pred, _, _ = predict_split(model, self.val, self.cfg.train)
        return va_score(pred, self.val.labels)


def run_train(cfg: FusionConfig, resume_run: Run | None = None) -> dict[str, Any]:
    """Train on the train split, select on val; returns the summary (scores, gate weights, paths)."""
    init_distributed(cfg.train.device)
    if resume_run is None:
        setup_logging()
    train = load_split(cfg, "train")
    val = load_split(cfg, "val", expect_dims=train.dims) if is_main() else None
    require_val_labels(None if val is None else val.labels, cfg.data.annotations)
    run = resume_run or create_run(cfg.data.output_root, STAGE, cfg.train.name, cfg)
    targets, window, windows = training_windows(train.grid, train.labels, cfg.train.window,
                                                cfg.train.hop_length)
    arch = architecture(cfg, train.dims)
    log.info("train: %d videos, %d frames, %d windows of %d frames; inputs %s; experts %s",
             len(train.videos), train.n_frames, len(windows), window, train.dims, ", ".join(arch.experts))
    seed_everything(cfg.train.seed)
    model = build_model(arch)
    for name in arch.modalities:
        model.set_normalisation(name, *(torch.from_numpy(a) for a in train.input_stats(name)))
    dataset = WindowSet(windows, train.arrays(), targets, window, train.grid.rows)
    task = FusionTask(cfg, val)
    summary = fit(model, task, dataset, cfg.train, run, kind=KIND, arch={"model": arch.to_dict()},
                  collate_fn=dataset.collate, resume=resume_run is not None)
    if not is_main():
        return summary
    return finish_report(cfg, run, summary, model, val)


def input_scores(cfg: FusionConfig, val: FusionSplit, pred: np.ndarray) -> dict[str, float]:
    """Each input's own validation score (its table's prediction column), the fused model's gain over the
    best of them, and, with a face input, fused and face scores on frames with and without a face crop."""
    out: dict[str, float] = {}
    own = {m.name: read_modality(dataclasses.replace(m, input="prediction"), "val", val.positions)[0][:]
           for m in cfg.modalities.items}
    fused = va_score(pred, val.labels)["score"]
    for name, values in own.items():
        out[f"{name}_score"] = va_score(values, val.labels)["score"]
    out["gain_over_best_input"] = fused - max(out[f"{name}_score"] for name in own)
    if "face" in own:
        labelled = np.isfinite(val.labels).all(axis=1)
        for what, sel in (("with_face", val.valid["face"]), ("without_face", ~val.valid["face"])):
            out[f"frames_{what}"] = int((sel & labelled).sum())
            if (sel & labelled).sum() > 1:
                out[f"fused_{what}"] = va_score(pred[sel], val.labels[sel])["score"]
                out[f"face_{what}"] = va_score(own["face"][sel], val.labels[sel])["score"]
    return out


def finish_report(cfg: FusionConfig, run: Run, summary: dict[str, Any], model: DCMMOE,
                  val: FusionSplit | None) -> dict[str, Any]:
    """Score the best model again, add the gate's weights on validation, and rewrite the report."""
    assert val is not None
    pred, _, gates = predict_split(model, val, cfg.train)
    score = va_score(pred, val.labels)
    result = {**summary, "val_score": score["score"], "val_ccc_valence": score["ccc_valence"],
              "val_ccc_arousal": score["ccc_arousal"]}
    result.update({f"gate_{name}": value for name, value in gate_means(model.arch.experts, gates).items()})
    result.update(input_scores(cfg, val, pred))
    plot = plot_gates(run.dir / "val_gates.png", val, gates, model.arch.experts, cfg.train.gate_videos)
    shown = {k: v for k, v in result.items() if k not in ("best_metrics", "run_dir")}
    write_report(run.report_path, f"Fusion model (DCMMOE): run {run.dir.name}", shown,
                 read_metrics(run.metrics_path), images=(run.curves_path.name, plot.name))
    result["val_gates_png"] = str(plot)
    return result
