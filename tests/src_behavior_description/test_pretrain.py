"""The warm-up's clips are drawn in memory exactly where `segments` and `describe` would read them."""

from __future__ import annotations

import numpy as np
import pytest

from abaw.errors import AbawError
from src_behavior_description import config as stage_config
from src_behavior_description.pretrain import recording_clips, run_warmup, warmup_tasks
from src_behavior_description.sampling import ClipDataset, clip_jobs
from src_behavior_description.segments import plan_split
from tests.src_behavior_description.conftest import write_config


def test_drawn_clips_match_the_decoded_clips_and_labels(tiny_dataset, tmp_path):
    cfg = stage_config.load(write_config(tmp_path, tiny_dataset, tmp_path / "model", """
[warmup]
preset = "tiny"
data_seeds = [0]
splits = ["val"]
"""))
    tasks = warmup_tasks(cfg)
    samples = [s for task in tasks for s in recording_clips(task)]
    planned = plan_split(cfg.data, cfg.clips, "val")
    assert {s.split("/", 2)[2] for _, _, s in samples} == set(planned.streams.tolist())
    for _, _, stream_id in samples[:1]:
        stream = stream_id.split("/", 2)[2]
        i = planned.streams.tolist().index(stream)
        rows = planned.plan.rows(stream)
        labelled = np.isfinite(planned.labels[rows]).all(axis=1)
        drawn = [(c, y) for c, y, s in samples if s == stream_id]
        assert len(drawn) == labelled.sum()
        np.testing.assert_allclose([y for _, y in drawn], planned.labels[rows][labelled], atol=1e-6)
        path = next(cfg.data.videos.glob(f"{planned.bases[i]}.*"))
        jobs = clip_jobs(path, planned.plan.start[rows][labelled], planned.plan.stop[rows][labelled],
                         float(planned.fps[i]), cfg.sampling)
        for job, (clip, _) in zip(jobs[:2], drawn, strict=False):
            decoded = ClipDataset([job], cfg.sampling)[0].clip
            np.testing.assert_allclose(clip.times, decoded.times)
            assert clip.frames.shape == decoded.frames.shape
            # only the codec's loss separates the drawn frames from the decoded ones
            error = np.abs(clip.frames.astype(float) - decoded.frames.astype(float)).mean()
            assert error < 6, error


def test_warmup_refuses_the_described_datasets_seed(tiny_dataset, tmp_path):
    cfg = stage_config.load(write_config(tmp_path, tiny_dataset, tmp_path / "model", """
[warmup]
preset = "tiny"
data_seeds = [2, 0]
"""), ["describer.kind=qwen3vl"])
    with pytest.raises(AbawError, match="data_seeds holds 0"):
        run_warmup(cfg)
