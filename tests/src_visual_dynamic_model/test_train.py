import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from abaw.checkpoint import load_checkpoint
from abaw.windowed import Windows, labelled_windows
from src_visual_dynamic_model.train import KIND, feature_stats

ROOT = Path(__file__).resolve().parents[2]


def test_run_directory_holds_everything(trained_mini):
    _, cfg, best = trained_mini
    run = best.parent.parent
    for name in ("config.toml", "log.txt", "metrics.csv", "curves.png", "report.md", "val_traces.png",
                 "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    metrics = pd.read_csv(run / "metrics.csv")
    assert metrics["epoch"].tolist() == [1, 2]
    assert {"val_score", "val_ccc_valence", "val_ccc_arousal", "train_loss"} <= set(metrics.columns)
    report = (run / "report.md").read_text()
    assert "ridge_score" in report and "gain_over_ridge" in report and "val_traces.png" in report
    ckpt = load_checkpoint(best, KIND)
    assert ckpt["arch"]["model"]["input_dim"] == 16 and ckpt["arch"]["model"]["hidden"] == 16
    assert torch.count_nonzero(ckpt["model"]["feature_std"] != 1) > 0  # train statistics were stored


def test_resume_continues_the_same_run(extracted):
    from abaw.runs import open_run
    from src_visual_dynamic_model import config as stage_config
    from src_visual_dynamic_model.train import run_train

    first = run_train(extracted)
    run = open_run(first["run_dir"])
    cfg = stage_config.load(run.config_path, ["train.epochs=3"])
    second = run_train(cfg, run)
    assert second["run_dir"] == first["run_dir"] and second["epochs_run"] == 3
    assert pd.read_csv(run.metrics_path)["epoch"].tolist() == [1, 2, 3]


def test_same_seed_same_model(extracted):
    from src_visual_dynamic_model.train import run_train

    first = torch.load(run_train(extracted)["best_checkpoint"], weights_only=True)["model"]
    second = torch.load(run_train(extracted)["best_checkpoint"], weights_only=True)["model"]
    torch.testing.assert_close(first, second)


def test_only_windows_with_labels_are_kept():
    targets = np.full((20, 2), np.nan, np.float32)
    targets[12] = 0.5
    windows = Windows(np.zeros(3, np.int64), np.array([0, 5, 10]), np.array([5, 5, 5]))
    kept = labelled_windows(windows, targets)
    assert kept.row.tolist() == [10]


def test_feature_stats_use_only_flagged_rows():
    features = np.array([[1.0, 10.0], [3.0, 10.0], [100.0, 100.0]], np.float32)
    mean, std = feature_stats(features, np.array([True, True, False]), chunk=2)
    np.testing.assert_allclose(mean, [2.0, 10.0])
    np.testing.assert_allclose(std, [1.0, 0.0], atol=1e-6)


def test_torchrun_two_processes(extracted):
    config = extracted.data.output_root.parent / "config.toml"
    # Two CPU ranks over gloo whatever GPUs this machine has (bench/gpu_check.sh checks NCCL).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
               "src_visual_dynamic_model/main.py", "train", "--config", str(config),
               "--set", "train.name='ddp'"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list((extracted.data.output_root / "src_visual_dynamic_model").glob("ddp-*"))
    assert len(runs) == 1  # rank 0 alone created and wrote the run directory
    for name in ("metrics.csv", "report.md", "val_traces.png", "checkpoints/best.pt"):
        assert (runs[0] / name).is_file(), name
    assert "ridge_score" in (runs[0] / "report.md").read_text()


def test_a_window_longer_than_every_video_is_capped_with_a_notice(extracted):
    from src_visual_dynamic_model import config as stage_config
    from src_visual_dynamic_model.train import run_train

    path = extracted.data.output_root.parent / "config.toml"
    cfg = stage_config.load(path, ["train.window=1000000000000", "train.hop_length=1000000000000",
                                   "train.epochs=1"])
    summary = run_train(cfg)
    log = (Path(summary["run_dir"]) / "log.txt").read_text()
    assert "train.window = 1000000000000 is longer than the longest train video" in log
    assert "windows of 30 frames" in log and np.isfinite(summary["val_score"])


def test_bfloat16_training_step_keeps_the_loss_in_float32():
    from src_visual_dynamic_model.config import VisualConfig
    from src_visual_dynamic_model.model import Architecture, build_model
    from src_visual_dynamic_model.train import VisualTask

    model = build_model(Architecture(input_dim=4, hidden=8, layers=1, heads=2, ff_dim=16, head_dim=6))
    batch = {"features": torch.randn(2, 10, 4), "mask": torch.ones(2, 10, dtype=torch.bool),
             "target": torch.rand(2, 10, 2) * 2 - 1}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = VisualTask(VisualConfig(), None).training_step(model, batch)
    assert loss.dtype == torch.float32
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
