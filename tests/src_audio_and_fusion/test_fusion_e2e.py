"""RAAV end to end on the tiny dataset: train-fusion, export-fusion, a validated submission, bad inputs.

The inputs are exchange tables derived from the labels plus noise (a face stream that is accurate where it
has a crop, a noisier behaviour stream, audio windows of which half are reliable), written in the formats
the face, behaviour and audio exports write.
"""

from __future__ import annotations

import json
from pathlib import Path
from shutil import copyfile as copy

import numpy as np
import pytest

from abaw.clips import ClipRule, plan_clips
from abaw.config import DataConfig
from abaw.positions import split_positions
from abaw.submission import validate_submission
from abaw.tables import frames_table, make_meta, read_table, windows_table, write_table
from src_audio_and_fusion.bins import bin_labels, bin_rows, bin_times
from src_audio_and_fusion.main import main

DIM = 8
FPS = 30.0
SPLITS = ("train", "val", "test")


def noisy(rng: np.random.Generator, truth: np.ndarray, scale: float) -> np.ndarray:
    return np.clip(np.nan_to_num(truth) + rng.normal(0, scale, truth.shape), -1, 1).astype(np.float32)


def embed(rng: np.random.Generator, pred: np.ndarray) -> np.ndarray:
    noise = rng.normal(0, 1, (*pred.shape[:-1], DIM - 2))
    return np.concatenate([pred, noise], axis=-1).astype(np.float16)


def write_inputs(dataset: Path, root: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    data = DataConfig(annotations=dataset / "annotations", test_template=dataset / "test_template.txt")
    for split in SPLITS:
        pos = split_positions(data, split)
        truth = np.where(np.isfinite(pos.labels), pos.labels, 0.3 * np.sin(pos.frames / 20.0)[:, None])
        face = np.ones(len(pos.frames), bool)
        for i in range(len(pos.videos)):  # a run of frames without a crop in every video
            a, b = int(pos.offsets[i]), int(pos.offsets[i + 1])
            face[a + (b - a) // 3: a + (b - a) // 2] = False
        face_pred = np.where(face[:, None], noisy(rng, truth, 0.1), noisy(rng, truth * 0, 0.5))
        streams = (("face", face_pred, {"face": face}), ("behaviour", noisy(rng, truth, 0.3), {}))
        for name, pred, extra in streams:
            meta = make_meta("frames", split, name, "test")
            write_table(root / name / f"{split}.npz", frames_table(
                pos.videos, pos.offsets, frame=pos.frames, embedding=embed(rng, pred), prediction=pred,
                label=pos.labels, meta=meta, **extra))
        frames = np.maximum.reduceat(pos.frames, pos.offsets[:-1]).astype(np.int64)
        plan = plan_clips(frames, np.full(len(frames), FPS), ClipRule(), pos.videos)
        video_of = plan.video_of_row()
        b0, b1, valid = bin_times(plan.begin, plan.end, 4)
        lo, hi = bin_rows(b0, b1, np.full(plan.n_clips, FPS))
        steps = bin_labels(truth, pos.offsets[video_of], frames[video_of], lo, hi, valid)
        pred = noisy(rng, steps, 0.3)
        k = plan.n_clips
        meta = make_meta("windows", split, "audio", "test")
        write_table(root / "audio" / f"{split}.npz", windows_table(
            pos.videos, plan.offsets, start=plan.start, stop=plan.stop, embedding=embed(rng, pred),
            prediction=pred, label=steps, meta=meta, reliable=rng.random(k) < 0.5,
            has_audio=np.ones(k, bool), begin=plan.begin, end=plan.end, fps=np.full(k, FPS, np.float32),
            stream_rows=frames[video_of]))


CONFIG = """
[data]
annotations = "{dataset}/annotations"
test_template = "{dataset}/test_template.txt"
output_root = "out"

[fusion]
modalities = ["face", "behaviour"]
tables = ["inputs/face", "inputs/behaviour"]
priors = [0.85, 0.15]
audio = "inputs/audio"
hidden = 32
heads = 2
gate_hidden = 16

[train_fusion]
epochs = 1
lr = 1e-3
batch_size = 8
eval_batch_size = 16
num_workers = 0
log_every = 0

[export_fusion]
smoothing = "fit"
"""


@pytest.fixture(scope="module")
def fusion_inputs(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fusion")
    write_inputs(tiny_dataset, root / "inputs")
    (root / "fusion.toml").write_text(CONFIG.format(dataset=tiny_dataset))
    return root


def run_cli(capsys, *argv: str) -> dict:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_train_export_submission(fusion_inputs: Path, tiny_dataset: Path, capsys) -> None:
    config = str(fusion_inputs / "fusion.toml")
    trained = run_cli(capsys, "train-fusion", "--config", config)
    for key in ("val_score", "face_score", "behaviour_score", "audio_score", "gate_face", "gate_behaviour",
                "fused_with_face", "fused_without_face"):
        assert np.isfinite(trained[key]), key
    assert trained["gate_face"] + trained["gate_behaviour"] == pytest.approx(1.0, abs=1e-4)
    report = (Path(trained["run_dir"]) / "report.md").read_text()
    assert "fused_without_face" in report and "gate_face" in report

    out = fusion_inputs / "export"
    exported = run_cli(capsys, "export-fusion", "--config", config, "--checkpoint", trained["run_dir"],
                       "--out", str(out))
    assert validate_submission(tiny_dataset / "test_template.txt", out / "submission.txt") == []
    data = DataConfig(annotations=tiny_dataset / "annotations",
                      test_template=tiny_dataset / "test_template.txt")
    for split in SPLITS:
        table = read_table(out / "frames" / f"{split}.npz", "frames")
        pos = split_positions(data, split)
        assert np.array_equal(table.columns["frame"], pos.frames)
        assert np.isfinite(table.columns["prediction"]).all()
        assert table.columns["embedding"].shape == (len(pos.frames), 32)
        gates = table.columns["gate/face"] + table.columns["gate/behaviour"]
        np.testing.assert_allclose(gates, 1.0, atol=1e-3)
    assert "fitted on train" in (out / "smoothing.md").read_text()
    assert np.isfinite(exported["val_score"])


def test_without_audio_and_with_face_only(fusion_inputs: Path, capsys) -> None:
    config = str(fusion_inputs / "fusion.toml")
    no_audio = run_cli(capsys, "train-fusion", "--config", config, "--set", "fusion.audio=",
                       "--set", "train_fusion.epochs=1")
    assert "audio_score" not in no_audio and np.isfinite(no_audio["val_score"])
    face_only = run_cli(capsys, "train-fusion", "--config", config,
                        "--set", 'fusion.modalities=["face"]',
                        "--set", f'fusion.tables=["{fusion_inputs}/inputs/face"]',
                        "--set", "fusion.priors=[1.0]", "--set", "train_fusion.epochs=1")
    assert face_only["gate_face"] == pytest.approx(1.0)


def _error(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def test_bad_inputs(fusion_inputs: Path, tmp_path: Path, capsys) -> None:
    from src_audio_and_fusion.config import load
    from src_audio_and_fusion.fusion_data import load_split

    config = fusion_inputs / "fusion.toml"
    bad = tmp_path / "bad"
    for name in ("face", "behaviour", "audio"):
        (bad / name).mkdir(parents=True)
        for split in SPLITS:
            copy(fusion_inputs / "inputs" / name / f"{split}.npz", bad / name / f"{split}.npz")
    tables = f'fusion.tables=["{bad}/face", "{bad}/behaviour"]'
    cfg = load(config, [tables, f"fusion.audio={bad}/audio"])

    (bad / "behaviour" / "val.npz").unlink()  # a modality missing for a split
    with pytest.raises(Exception, match=r"no val table for fusion.tables \(behaviour\)"):
        load_split(cfg, "val")
    # the face table of another split
    copy(fusion_inputs / "inputs" / "behaviour" / "val.npz", bad / "behaviour" / "val.npz")
    copy(fusion_inputs / "inputs" / "face" / "train.npz", bad / "face" / "val.npz")
    with pytest.raises(Exception, match="holds the 'train' split"):
        load_split(cfg, "val")
    copy(fusion_inputs / "inputs" / "face" / "val.npz", bad / "face" / "val.npz")
    # a video set that differs: drop the last video of the behaviour table
    table = read_table(bad / "behaviour" / "val.npz")
    keep = int(table.offsets[-2])
    write_table(bad / "behaviour" / "val.npz", frames_table(
        table.videos[:-1], table.offsets[:-1], frame=table.columns["frame"][:keep],
        embedding=table.columns["embedding"][:keep], prediction=table.columns["prediction"][:keep],
        label=table.columns["label"][:keep], meta=table.meta))
    with pytest.raises(Exception, match="lacks 1 video"):
        load_split(cfg, "val")
    # windows that do not match the annotation frame counts
    windows = read_table(bad / "audio" / "train.npz")
    windows.columns["stream_rows"] = windows.columns["stream_rows"] + 7
    write_table(bad / "audio" / "train.npz", windows)
    err = _error(capsys, "train-fusion", "--config", str(config), "--set", tables, "--set",
                 f"fusion.audio={bad}/audio")
    assert "annotations give" in err and "main.py windows --split train" in err
    err = _error(capsys, "train-fusion", "--config", str(config), "--set", "fusion.priors=[0.85]")
    assert "one entry per frame modality" in err
    err = _error(capsys, "train-fusion", "--config", str(config), "--set", "fusion.residual=audio")
    assert "fusion.residual = 'audio' is not in fusion.modalities" in err


def test_unreliable_audio_is_ignored_in_export(fusion_inputs: Path) -> None:
    import dataclasses

    import torch

    from src_audio_and_fusion.config import load
    from src_audio_and_fusion.fusion_data import load_split
    from src_audio_and_fusion.fusion_model import RAAV
    from src_audio_and_fusion.fusion_train import make_arch, predict_split

    cfg = load(fusion_inputs / "fusion.toml")
    data = load_split(cfg, "val")
    assert data.audio is not None and 0 < data.audio.reliable.sum() < data.n_samples
    torch.manual_seed(0)
    model = RAAV(make_arch(cfg, data))
    audio = data.audio
    unreliable = ~audio.reliable
    noise = np.random.default_rng(1).normal(0, 50, audio.embedding.shape).astype(audio.embedding.dtype)
    where = unreliable[:, None, None]
    replaced = dataclasses.replace(audio, embedding=np.where(where, noise, audio.embedding),
                                   prediction=np.where(where, np.nan, audio.prediction))
    before = predict_split(model, data, 16).prediction
    after = predict_split(model, dataclasses.replace(data, audio=replaced), 16).prediction
    np.testing.assert_array_equal(before, after)
    # the same noise on the reliable windows does change the fused prediction
    moved = dataclasses.replace(audio, embedding=noise)
    moved_pred = predict_split(model, dataclasses.replace(data, audio=moved), 16).prediction
    assert not np.allclose(before, moved_pred)
