import shutil

import numpy as np
import pytest

from abaw.errors import AbawError
from abaw.tables import frames_table, make_meta, read_table, segments_table, write_table
from src_fusion_model import config as stage_config
from src_fusion_model.data import load_split


def test_modalities_are_aligned_with_nearest_fill_and_validity(fusion):
    cfg = stage_config.load(fusion)
    val = load_split(cfg, "val")
    assert val.n_frames == 51 and val.dims == {"face": 8, "behaviour": 4}  # face: embedding + prediction
    behaviour = read_table(fusion.parent / "behaviour" / "val.npz")
    # Even frames have no behaviour row: they read the previous odd frame and are invalid.
    np.testing.assert_array_equal(val.valid["behaviour"], val.frames % 2 == 1)
    np.testing.assert_array_equal(val.inputs["behaviour"][1], behaviour.columns["embedding"][0])
    face = read_table(fusion.parent / "face" / "val.npz")
    np.testing.assert_array_equal(val.valid["face"], face.columns["face"])


def test_table_of_another_split_is_an_error(fusion):
    shutil.copy(fusion.parent / "behaviour" / "train.npz", fusion.parent / "behaviour" / "val.npz")
    with pytest.raises(AbawError, match=r"behaviour.*'train' split.*'val'"):
        load_split(stage_config.load(fusion), "val")


def test_table_of_another_kind_is_an_error(fusion):
    table = read_table(fusion.parent / "behaviour" / "val.npz")
    frame = table.columns["frame"]
    write_table(fusion.parent / "behaviour" / "val.npz", segments_table(
        table.videos, table.offsets, start=frame, stop=frame + 1,
        meta=make_meta("segments", "val", "behaviour", "test")))
    with pytest.raises(AbawError, match="expected a 'frames' table"):
        load_split(stage_config.load(fusion), "val")


def test_expert_naming_an_unknown_modality_lists_the_configured_ones(fusion):
    fusion.write_text(fusion.read_text().replace('"behaviour<-face"', '"audio<-face"'))
    with pytest.raises(AbawError, match=r"'audio' is not a configured modality; configured: face, behaviour"):
        stage_config.load(fusion)


def test_dims_differing_across_splits_are_an_error(fusion):
    path = fusion.parent / "behaviour" / "val.npz"
    table = read_table(path)
    wide = np.concatenate([table.columns["embedding"]] * 2, axis=1)
    write_table(path, frames_table(table.videos, table.offsets, frame=table.columns["frame"], embedding=wide,
                                   meta=make_meta("frames", "val", "behaviour", "test")))
    cfg = stage_config.load(fusion)
    train = load_split(cfg, "train")
    with pytest.raises(AbawError, match=r"'behaviour' gives 8-d inputs, but its train table .* 4-d"):
        load_split(cfg, "val", expect_dims=train.dims)
