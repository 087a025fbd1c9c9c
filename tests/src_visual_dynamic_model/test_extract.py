import json
import shutil

import numpy as np
import pytest

from abaw.errors import AbawError
from abaw.manifest import read_manifest
from src_visual_dynamic_model import cache
from src_visual_dynamic_model import config as stage_config
from src_visual_dynamic_model.extract import CropLayout, extract


def features(cfg):
    return stage_config.features_dir(cfg)


def test_extract_writes_one_cache_per_video(mini):
    cfg = stage_config.load(mini)
    result = extract(cfg, ("train", "val"))
    assert result["train"] == {"videos": 3, "extracted": 3, "reused": 0, "crops": 52, "no_crops": 1,
                               "unreadable": 0, "unreadable_crops": [], "errors": None}
    frames, rows = cache.read_cache(cache.cache_path(features(cfg), "train", "tr_a"), "tr_a")
    assert frames.tolist() == [f for f in range(1, 31) if f not in (5, 6, 7)]
    assert rows.shape == (27, 16) and np.isfinite(rows).all()
    empty, none = cache.read_cache(cache.cache_path(features(cfg), "train", "tr_noface"), "tr_noface")
    assert empty.size == 0 and none.shape == (0, 16)
    entries = read_manifest(features(cfg) / "train")
    assert entries["tr_noface"].info["crops"] == 0 and entries["tr_a"].info["dim"] == 16
    assert entries["tr_a"].identity == stage_config.backbone_sha(cfg)


def test_features_do_not_depend_on_batching(mini, tmp_path):
    # --set paths resolve against the working directory, so the caches get absolute folders here.
    one = stage_config.load(mini, ["extract.batch_size=1", f"extract.features='{tmp_path / 'f1'}'"])
    big = stage_config.load(mini, ["extract.batch_size=50", f"extract.features='{tmp_path / 'f50'}'",
                                   "extract.workers=1"])
    extract(one, ("val",))
    extract(big, ("val",))
    for video in ("va_a", "va_b"):
        a = cache.read_cache(cache.cache_path(features(one), "val", video), video)[1]
        b = cache.read_cache(cache.cache_path(features(big), "val", video), video)[1]
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_resume_reuses_only_valid_caches(mini, caplog):
    cfg = stage_config.load(mini)
    extract(cfg, ("train",))
    assert extract(cfg, ("train",))["train"]["extracted"] == 0
    # A truncated cache (fewer rows than recorded) is redone.
    path = cache.cache_path(features(cfg), "train", "tr_b")
    frames, rows = cache.read_cache(path, "tr_b")
    cache.write_cache(path, frames[:4], rows[:4], "float32")
    # A new crop makes the recorded count stale.
    crops = mini.parent / "cropped_aligned" / "tr_a"
    shutil.copy(crops / "00001.jpg", crops / "00005.jpg")
    result = extract(cfg, ("train",))["train"]
    assert result["extracted"] == 2 and result["reused"] == 1
    assert len(cache.read_cache(path, "tr_b")[0]) == 25
    assert 5 in cache.read_cache(cache.cache_path(features(cfg), "train", "tr_a"), "tr_a")[0]
    # A damaged cache (cut short by a full disk) is redone, with a warning that names it.
    damaged = cache.cache_path(features(cfg), "train", "tr_a")
    damaged.write_bytes(damaged.read_bytes()[:300])
    assert extract(cfg, ("train",))["train"]["extracted"] == 1
    assert "damaged or incomplete" in caplog.text and len(cache.read_cache(damaged, "tr_a")[0]) == 28
    # Another backbone config redoes everything.
    assert extract(stage_config.load(mini, ["backbone.dim=8"]), ("train",))["train"]["extracted"] == 3


def test_replaced_crops_of_the_same_count_are_extracted_again(mini):
    cfg = stage_config.load(mini)
    extract(cfg, ("val",))
    before = cache.read_cache(cache.cache_path(features(cfg), "val", "va_a"), "va_a")[1]
    # Re-aligned faces: every crop of va_a rewritten with another image, same names and count.
    crops = sorted((mini.parent / "cropped_aligned" / "va_a").iterdir())
    other = sorted((mini.parent / "cropped_aligned" / "va_b").iterdir())
    for i, path in enumerate(crops):
        shutil.copy(other[i % len(other)], path)
    result = extract(cfg, ("val",))["val"]
    assert result["extracted"] == 1 and result["reused"] == 1
    after = cache.read_cache(cache.cache_path(features(cfg), "val", "va_a"), "va_a")[1]
    assert after.shape == before.shape and not np.allclose(after, before)


def test_shards_split_the_videos(mini):
    cfg = stage_config.load(mini)
    first = extract(cfg, ("train",), (0, 2))["train"]
    second = extract(cfg, ("train",), (1, 2))["train"]
    assert first["videos"] + second["videos"] == 3
    assert set(read_manifest(features(cfg) / "train")) == {"tr_a", "tr_b", "tr_noface"}
    assert sorted(p.name for p in (features(cfg) / "train").glob("manifest*")) == [
        "manifest-0of2.jsonl", "manifest-1of2.jsonl"]
    assert extract(cfg, ("train",))["train"]["extracted"] == 0  # the unsharded run reuses both shards


def test_empty_crops_folder_is_an_error(mini):
    cfg = stage_config.load(mini)
    for folder in (mini.parent / "cropped_aligned").iterdir():
        shutil.rmtree(folder)
    with pytest.raises(AbawError, match="no face crops found for any train video"):
        extract(cfg, ("train",))
    shutil.rmtree(mini.parent / "cropped_aligned")
    with pytest.raises(AbawError, match="data.cropped_aligned"):
        extract(cfg, ("train",))


def test_unreadable_crops_count_as_no_face_and_are_listed(mini, capsys):
    from src_visual_dynamic_model.main import main

    cfg = stage_config.load(mini)
    for frame in (3, 9):
        (mini.parent / f"cropped_aligned/va_b/{frame:05d}.jpg").write_bytes(b"not a jpeg")
    assert main(["extract", "--config", str(mini), "--split", "val", "--shard", "1/2"]) == 0
    frames, _ = cache.read_cache(cache.cache_path(features(cfg), "val", "va_b"), "va_b")
    assert 3 not in frames and 9 not in frames and len(frames) == 12
    errors = cache.errors_path(features(cfg), "val")
    lines = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [(e["video"], e["frame"]) for e in lines] == [("va_b", 3), ("va_b", 9)]
    out, err = capsys.readouterr()
    assert "va_b: 2 crop(s) could not be decoded" in err
    assert f"listed in {errors}; first: {lines[0]['path']}, {lines[1]['path']}" in out
    # Resumed whole: va_b is reused and its errors stay listed; once repaired, the list goes.
    result = extract(cfg, ("val",))["val"]
    assert result["extracted"] == 1 and result["unreadable"] == 0 and len(result["unreadable_crops"]) == 2
    crops = mini.parent / "cropped_aligned" / "va_b"
    for frame in (3, 9):
        shutil.copy(crops / "00001.jpg", crops / f"{frame:05d}.jpg")
    result = extract(cfg, ("val",))["val"]
    assert result["extracted"] == 1 and result["errors"] is None and not errors.exists()


def test_custom_crop_pattern(tmp_path):
    (tmp_path / "flat").mkdir()
    for name in ("v1_000003.png", "v1_000010.png", "v2_000001.png", "v1_x.png"):
        (tmp_path / "flat" / name).write_bytes(b"")
    layout = CropLayout(tmp_path, "flat/{video}_{frame:06d}.png")
    assert layout.frames("v1").tolist() == [3, 10]
    assert layout.path("v1", 3).endswith("flat/v1_000003.png")
    assert CropLayout(tmp_path, "{video}/{frame:05d}.jpg").frames("missing").size == 0
