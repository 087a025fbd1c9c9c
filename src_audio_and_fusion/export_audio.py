"""`export-audio`: the audio model's outputs for the fusions and for submission.

Per split, `<out>/windows/<split>.npz`: every window with its 256-d step embeddings [N, S, 256], step
predictions, labels and reliability columns; `<out>/frames/<split>.npz`: every frame of every stream with
the prediction interpolated from the steps (as in validation) and the embedding of the step covering it.
For test, also the flat submission `<out>/submission.txt`, validated against the template.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from abaw.affwild import read_template
from abaw.config import config_sha
from abaw.errors import AbawError
from abaw.metrics import va_score
from abaw.submission import validate_submission, write_submission
from abaw.tables import frames_table, make_meta, windows_table, write_table
from src_audio_and_fusion.audio_windows import PRODUCER, load_windows
from src_audio_and_fusion.config import StageConfig, wav_dir
from src_audio_and_fusion.data import WindowReader
from src_audio_and_fusion.model import AudioModel
from src_audio_and_fusion.spread import FrameLayout, interpolate, spread_steps
from src_audio_and_fusion.train_audio import predict_windows, split_labels, window_samples

log = logging.getLogger("abaw.audio")

STANDARD = ("start", "stop", "embedding", "prediction", "label", "open_sec", "coverage", "speech_ratio")


def test_submission(cfg: StageConfig, layout: FrameLayout, pred: np.ndarray, path: Path) -> Path:
    """Write the flat submission in template order and validate it; a problem is an error."""
    template = read_template(cfg.data.test_template)
    stream = layout.offsets[:-1][template.video_idx]
    write_submission(path, template, pred[stream + template.frames.astype(np.int64) - 1])
    problems = validate_submission(cfg.data.test_template, path)
    if problems:
        raise AbawError(f"{path}: the written submission is not valid: {'; '.join(problems[:5])}")
    return path


def export(cfg: StageConfig, model: AudioModel, checkpoint: Path, out: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"out": str(out), "checkpoint": str(checkpoint)}
    dtype = np.dtype(cfg.export_audio.embedding_dtype)
    for split in cfg.export_audio.splits:
        table = load_windows(cfg, split)
        reader = WindowReader(table, wav_dir(cfg), window_samples(cfg))
        steps, emb = predict_windows(model, reader, cfg.train_audio.eval_batch_size)
        cols = table.columns
        extra = {k: v for k, v in cols.items() if k not in STANDARD}
        meta = make_meta("windows", split, "audio", PRODUCER, config_sha(cfg), checkpoint=str(checkpoint),
                         embedding="step embedding after the head's hidden layer")
        write_table(out / "windows" / f"{split}.npz", windows_table(
            table.videos, table.offsets, start=cols["start"], stop=cols["stop"], embedding=emb.astype(dtype),
            prediction=steps, label=cols["label"], open_sec=cols["open_sec"], coverage=cols["coverage"],
            speech_ratio=cols["speech_ratio"], meta=meta, **extra))
        layout = FrameLayout.of(table)
        pred = interpolate(table, layout, steps)
        frame_emb = spread_steps(table, layout, emb)
        labels = split_labels(cfg, split, reader)
        meta = make_meta("frames", split, "audio", PRODUCER, config_sha(cfg), checkpoint=str(checkpoint),
                         embedding="embedding of the step whose 1 s bin covers the frame")
        write_table(out / "frames" / f"{split}.npz", frames_table(
            table.videos, layout.offsets, frame=layout.frames(), embedding=frame_emb.astype(dtype),
            prediction=pred, label=labels, meta=meta))
        result[f"{split}_windows"] = table.n_rows
        result[f"{split}_frames"] = layout.n_frames
        if np.isfinite(labels).any():
            result[f"{split}_score"] = va_score(pred, labels)["score"]
        if split == "test":
            result["submission"] = str(test_submission(cfg, layout, pred, out / "submission.txt"))
    return result
