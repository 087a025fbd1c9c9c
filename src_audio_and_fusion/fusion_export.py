"""`export-fusion`: RAAV's outputs for `abaw blend`, the other fusion and a submission.

Per split, `<out>/frames/<split>.npz`: one row per frame position (every annotation line of train/val,
every template row of test) with the temporal layer's output as embedding, the prediction (smoothed as
`export_fusion.smoothing` says), the label and the gate weight of each frame modality (`gate/<name>`).
Also per-video TXT predictions, `smoothing.md`, and the flat test submission validated against the template.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from abaw import runs
from abaw.atomic import write_text
from abaw.checkpoint import load_checkpoint, load_state
from abaw.config import config_sha
from abaw.errors import AbawError
from abaw.metrics import va_score
from abaw.positions import contiguous, write_submission_checked
from abaw.smoothing import Labelled, SmoothingPlan, plan_smoothing
from abaw.submission import write_video_txts
from abaw.tables import frames_table, make_meta, write_table
from src_audio_and_fusion.config import StageConfig
from src_audio_and_fusion.fusion_data import FusionSplit, load_split
from src_audio_and_fusion.fusion_model import RAAV, FusionArch
from src_audio_and_fusion.fusion_train import KIND, STAGE, check_same_inputs, predict_split

log = logging.getLogger("abaw.fusion")


def resolve_checkpoint(cfg: StageConfig, given: Path | None) -> tuple[Path, str]:
    """The checkpoint `--checkpoint` names (`abaw.runs.resolve_checkpoint` over the train-fusion runs)."""
    return runs.resolve_checkpoint(cfg.data.output_root, STAGE, cfg.train_fusion.name, given)


def load_trained(cfg: StageConfig, path: Path) -> RAAV:
    ckpt = load_checkpoint(path, KIND)
    arch = dict(ckpt["arch"])
    try:
        arch = FusionArch(**{k: tuple(v) if isinstance(v, list) else v for k, v in arch.items()})
    except TypeError as exc:
        raise AbawError(f"{path}: its architecture record does not fit this version ({exc}); "
                        "retrain") from exc
    if arch.modalities != cfg.fusion.modalities:
        raise AbawError(f"{path}: trained on modalities {list(arch.modalities)} but fusion.modalities is "
                        f"{list(cfg.fusion.modalities)}; use the config it was trained with")
    model = RAAV(arch)
    load_state(model, ckpt["model"], str(path))
    return model.eval()


def smoothing_plan(cfg: StageConfig, model: RAAV) -> SmoothingPlan:
    """The export's smoothing; "fit" predicts val and train (without embeddings) to choose it."""
    option = cfg.export_fusion.smoothing
    if option.mode != "fit":
        return plan_smoothing(option)
    labelled = {}
    for split in ("val", "train"):
        data = load_split(cfg, split)
        check_same_inputs(model.arch, data, split)
        pred = predict_split(model, data, cfg.train_fusion.eval_batch_size).prediction
        labelled[split] = Labelled(pred, data.positions.labels, data.positions.offsets)
    return plan_smoothing(option, **labelled)


def export_split(cfg: StageConfig, model: RAAV, data: FusionSplit, plan: SmoothingPlan, checkpoint: Path,
                 out: Path) -> dict[str, Any]:
    frames = predict_split(model, data, cfg.train_fusion.eval_batch_size, hidden=True,
                           hidden_dtype=cfg.export_fusion.embedding_dtype)
    pos = data.positions
    pred = np.clip(plan.apply(frames.prediction, pos.offsets), -1, 1)
    meta = make_meta("frames", data.split, "raav", STAGE, config_sha(cfg), checkpoint=str(checkpoint),
                     modalities=list(model.arch.modalities), audio=data.audio is not None,
                     embedding="temporal layer output", smoothing=plan.summary())
    gates = {f"gate/{name}": frames.gate[:, m] for m, name in enumerate(model.arch.modalities)}
    write_table(out / "frames" / f"{data.split}.npz", frames_table(
        pos.videos, pos.offsets, frame=pos.frames, embedding=frames.hidden, prediction=pred, label=pos.labels,
        meta=meta, **gates))
    result: dict[str, Any] = {f"{data.split}_rows": len(pred)}
    if np.isfinite(pos.labels).any():
        result[f"{data.split}_score"] = va_score(pred, pos.labels)["score"]
        if plan.active:
            result[f"{data.split}_score_unsmoothed"] = va_score(frames.prediction, pos.labels)["score"]
    if contiguous(pos):
        write_video_txts(out / "predictions" / data.split, pos.videos, pos.offsets, pred)
    else:
        log.warning("%s: frames are not 1..n per video, so no per-video TXT files (the table has them all)",
                    data.split)
    if data.split == "test":
        result["submission"] = str(write_submission_checked(out / "submission.txt", cfg.data.test_template,
                                                            pos, pred))
    return result


def export(cfg: StageConfig, model: RAAV, checkpoint: Path, out: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"out": str(out), "checkpoint": str(checkpoint)}
    plan = smoothing_plan(cfg, model)
    for split in cfg.export_fusion.splits:
        data = load_split(cfg, split)
        check_same_inputs(model.arch, data, split)
        result.update(export_split(cfg, model, data, plan, checkpoint, out))
    result["smoothing"] = plan.summary()
    write_text(out / "smoothing.md", "# Export smoothing\n\n" + "\n".join(plan.report()) + "\n")
    return result
