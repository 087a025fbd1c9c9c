import numpy as np
import pytest

from abaw.errors import AbawError
from src_visual_dynamic_model import cache
from src_visual_dynamic_model import config as stage_config
from src_visual_dynamic_model.data import load_split


def config_of(cfg):
    return cfg.data.output_root.parent / "config.toml"


def test_load_split_fills_every_frame(extracted):
    cfg = extracted
    data = load_split(cfg, "train")
    assert data.n_frames == 30 + 25 + 12 and data.dim == 16
    a = data.rows(0)
    frames, rows = cache.read_cache(cache.cache_path(stage_config.features_dir(cfg), "train", "tr_a"), "tr_a")
    np.testing.assert_array_equal(data.features[a][frames - 1], rows)
    np.testing.assert_array_equal(data.features[a][4], rows[3])  # frame 5 -> frame 4
    np.testing.assert_array_equal(data.features[a][6], rows[4])  # frame 7 -> frame 8
    assert data.face[a].sum() == 27
    noface = data.rows(2)
    assert not data.face[noface].any() and not data.features[noface].any()
    assert np.isnan(data.labels[a][0]).all() and np.isfinite(data.labels[a][1:]).all()


def test_load_test_split_follows_the_template(extracted):
    data = load_split(extracted, "test")
    assert data.n_frames == 28 and np.isnan(data.labels).all()
    assert data.template_rows is not None and sorted(data.template_rows.tolist()) == list(range(28))


def test_one_video_only(extracted):
    data = load_split(extracted, "val", video="va_b")
    assert data.videos.tolist() == ["va_b"] and data.n_frames == 15
    with pytest.raises(AbawError, match="not in this split"):
        load_split(extracted, "val", video="nope")


def test_missing_cache_is_an_error(extracted):
    cfg = extracted
    cache.cache_path(stage_config.features_dir(cfg), "val", "va_a").unlink()
    with pytest.raises(AbawError, match="feature cache of video 'va_a'.*is not recorded|feature cache"):
        load_split(cfg, "val")
    (stage_config.features_dir(cfg) / "val" / "manifest.jsonl").unlink()
    with pytest.raises(AbawError, match="is missing; run .*extract"):
        load_split(cfg, "val")


def test_cache_from_another_backbone_or_dimension(extracted):
    other = stage_config.load(config_of(extracted), ["backbone.dim=8"])
    with pytest.raises(AbawError, match="extracted with backbone tiny:seed=0:dim=16"):
        load_split(other, "val")
    with pytest.raises(AbawError, match="features are 16-d but the model expects 32-d"):
        load_split(extracted, "val", expect_dim=32)


def test_truncated_cache_is_detected(extracted):
    cfg = extracted
    path = cache.cache_path(stage_config.features_dir(cfg), "val", "va_b")
    frames, rows = cache.read_cache(path, "va_b")
    cache.write_cache(path, frames[:-2], rows[:-2], "float32")
    with pytest.raises(AbawError, match="truncated or stale"):
        load_split(cfg, "val")


def test_foreign_caches_without_manifest(extracted):
    cfg = stage_config.load(config_of(extracted), ["extract.require_manifest=false"])
    for path in (stage_config.features_dir(cfg) / "val").glob("manifest*"):
        path.unlink()
    assert load_split(cfg, "val").n_frames == 35


def test_crops_outside_the_positions_fill_the_video(extracted):
    # va_b has 15 annotation lines; its only crops here are of frames 16 and 17 (past the last line).
    cfg = stage_config.load(config_of(extracted), ["extract.require_manifest=false"])
    path = cache.cache_path(stage_config.features_dir(cfg), "val", "va_b")
    rows = np.arange(2 * 16, dtype=np.float32).reshape(2, 16) + 1
    cache.write_cache(path, np.array([16, 17]), rows, "float32")
    data = load_split(cfg, "val")
    b = data.rows(1)
    assert not data.face[b].any()
    np.testing.assert_array_equal(data.features[b], np.repeat(rows[:1], 15, axis=0))


def test_mixed_dimensions_are_an_error(extracted):
    cfg = stage_config.load(config_of(extracted), ["extract.require_manifest=false"])
    path = cache.cache_path(stage_config.features_dir(cfg), "val", "va_b")
    frames, rows = cache.read_cache(path, "va_b")
    cache.write_cache(path, frames, rows[:, :5], "float32")
    with pytest.raises(AbawError, match="5-d features, other videos"):
        load_split(cfg, "val")
