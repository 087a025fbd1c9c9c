"""The warm-up trains the tiny describer towards clip valence/arousal and saves a loadable checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from abaw.errors import AbawError
from src_behavior_description.describer import Clip, Describer, DescriberConfig
from src_behavior_description.warmup import _shift, centre_groups, centre_per_video, video_batches, warmup


def labelled_clips(n: int, seed: int = 0) -> list[tuple[Clip, np.ndarray]]:
    """Clips whose brightness and flicker follow their label: a signal a model can learn quickly."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        va = rng.uniform(-1, 1, 2).astype(np.float32)
        base = rng.integers(0, 40, (4, 32, 32, 3))
        level = 128 + 80 * va[1] + rng.normal(0, 30 * (1 + va[0]), (4, 1, 1, 1))
        frames = np.clip(base + level, 0, 255).astype(np.uint8)
        out.append((Clip(frames=frames, times=np.arange(4) / 4.0), va))
    out[0][1][0] = np.nan  # a clip with one unknown channel still trains the other
    return out


def test_warmup_learns_and_saves_a_loadable_model(tmp_path):
    cfg = DescriberConfig(kind="tiny", path=tmp_path / "tiny", seed=0, max_new_tokens=2, batch_size=8)
    clips = labelled_clips(48)
    out = tmp_path / "warm"
    figures = warmup(cfg, clips, out, epochs=4, lr=3e-3, seed=0, batch_size=8, progress=False)
    assert figures["clips"] == 48 and figures["epochs"] == 4 and figures["seconds"] > 0
    assert figures["loss"][-1] < 0.6 * figures["loss"][0]
    # Same architecture and tensors as the untrained model (heads discarded), other values.
    names = {}
    for folder in (cfg.path, out):
        with safe_open(str(folder / "model.safetensors"), "np") as f:
            names[folder] = {k: f.get_tensor(k) for k in f.keys()}
    assert names[cfg.path].keys() == names[out].keys()
    key = "model.visual.patch_embed.proj.weight"
    assert not np.array_equal(names[cfg.path][key], names[out][key])
    assert json.loads((out / "config.json").read_text())["model_type"] == "qwen3_vl"
    warmed = Describer.load(DescriberConfig(kind="qwen3vl", path=out, max_new_tokens=2))
    before = Describer.load(cfg)
    assert warmed.identity["model"] != before.identity["model"]
    probe = [c for c, _ in clips[:2]]
    a, b = warmed.describe(probe), before.describe(probe)
    assert not np.allclose(a[0].vectors["mm_mean"], b[0].vectors["mm_mean"])


def test_warmup_refuses_unlabelled_clips(tmp_path):
    cfg = DescriberConfig(kind="tiny", path=tmp_path / "tiny")
    clips = [(c, np.full(2, np.nan, np.float32)) for c, _ in labelled_clips(2)]
    with pytest.raises(AbawError, match="no clip has a label"):
        warmup(cfg, clips, tmp_path / "warm", epochs=1, lr=1e-3, seed=0)
    assert not (tmp_path / "warm").exists()


def test_centre_per_video_removes_each_video_mean():
    labels = np.array([[0.2, 0.5], [0.4, np.nan], [-0.6, 0.1], [-0.2, 0.3]], np.float32)
    centred = centre_per_video(labels, np.array(["a", "a", "b", "b"]))
    np.testing.assert_allclose(centred[:, 0], [-0.1, 0.1, -0.2, 0.2], atol=1e-6)
    np.testing.assert_allclose(centred[[0, 2, 3], 1], [0.0, -0.1, 0.1], atol=1e-6)
    assert np.isnan(centred[1, 1])


def test_vision_only_warmup_keeps_the_language_model(tmp_path):
    cfg = DescriberConfig(kind="tiny", path=tmp_path / "tiny", seed=0, max_new_tokens=2, batch_size=8)
    clips = labelled_clips(8)
    out = tmp_path / "warm"
    warmup(cfg, clips, out, epochs=1, lr=3e-3, seed=0, videos=["a"] * 4 + ["b"] * 4, vision_only=True,
           flip=True, progress=False)
    tensors = {}
    for folder in (cfg.path, out):
        with safe_open(str(folder / "model.safetensors"), "np") as f:
            tensors[folder] = {k: f.get_tensor(k) for k in f.keys()}
    changed = {k for k in tensors[out] if not np.array_equal(tensors[out][k], tensors[cfg.path][k])}
    assert changed and all(k.startswith("model.visual.") for k in changed)


def test_shift_moves_the_frames_and_repeats_the_edges():
    frames = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    clip = Clip(frames=frames, times=np.arange(2) / 4.0)
    for seed in range(6):
        moved = _shift(clip, 1, np.random.default_rng(seed)).frames
        assert moved.shape == frames.shape
        # Some 3 x 3 window of the original is a 3 x 3 window of the moved frames.
        assert any(np.array_equal(moved[:, y:y + 3, x:x + 3], frames[:, a:a + 3, b:b + 3])
                   for y in (0, 1) for x in (0, 1) for a in (0, 1) for b in (0, 1))


def test_held_out_clips_are_not_trained_on_and_pick_the_epoch(tmp_path):
    cfg = DescriberConfig(kind="tiny", path=tmp_path / "tiny", seed=0, max_new_tokens=2)
    clips = labelled_clips(12)
    figures = warmup(cfg, clips, tmp_path / "warm", epochs=2, lr=3e-3, seed=0, batch_size=4, shift=2,
                     held_out=[False] * 8 + [True] * 4, progress=False)
    assert figures["clips"] == 8 and figures["held_out"] == 4 and len(figures["held_out_loss"]) == 2
    assert figures["best_epoch"] == 1 + int(np.argmin(figures["held_out_loss"]))
    Describer.load(DescriberConfig(kind="qwen3vl", path=tmp_path / "warm", max_new_tokens=2))


def test_video_batches_hold_runs_of_one_video():
    video = np.repeat(np.arange(5), [9, 4, 1, 6, 2])
    index = np.arange(len(video))
    batches = video_batches(index, video, 4, 8, np.random.default_rng(0))
    used = np.concatenate(batches)
    assert sorted(used) == sorted(set(index) - {13})  # video 2 has a single clip: nothing to compare it with
    for batch in batches:
        counts = np.unique(video[batch], return_counts=True)[1]
        assert counts.min() >= 2 and len(batch) >= 8 or batch is batches[-1]
    assert [list(b) for b in video_batches(index, video, 4, 8, None)] == \
        [list(b) for b in video_batches(index, video, 4, 8, None)]


def test_centre_groups_takes_each_group_mean_over_known_entries():
    x = torch.tensor([[1.0, 2.0], [3.0, float("nan")], [5.0, 6.0], [7.0, 10.0]])
    known = torch.isfinite(x)
    out = centre_groups(x, torch.tensor([0, 0, 1, 1]), known)
    torch.testing.assert_close(out[known], torch.tensor([-1.0, 0.0, 1.0, -1.0, -2.0, 1.0, 2.0]))
