import numpy as np
import pytest

from abaw.errors import AbawError
from abaw.positions import Positions
from abaw.tables import make_meta, read_table, segments_table, write_table
from src_behavior_model import config as stage_config
from src_behavior_model.data import ClipSplit, gather, make_sequences, read_clips, spread


def clips_of(starts, stops, offsets, videos=("a",)):
    n = len(starts)
    return ClipSplit(
        "val",
        np.array(videos),
        np.array(offsets, np.int64),
        np.array(starts, np.int64),
        np.array(stops, np.int64),
        np.zeros((n, 1), np.float32),
        np.zeros((n, 2), np.float32),
        "p",
        (1,),
        "segments/val.npz",
    )


def test_spread_averages_overlaps_and_fills_uncovered_frames_from_the_nearest():
    clips = clips_of([0, 2, 7], [4, 6, 9], [0, 3])
    values = np.array([[1.0], [3.0], [10.0]], np.float32)
    pos = Positions(np.array(["a"]), np.array([0, 11]), np.arange(1, 12, dtype=np.int32), np.zeros((11, 2)))
    out = spread(clips, pos, values)[:, 0]
    # rows 0-1: clip 0; rows 2-3: clips 0 and 1; rows 4-5: clip 1; row 6: nearest covered (5 and 7 tie ->
    # the earlier); rows 7-8: clip 2; rows 9-10 are after every clip: nearest is row 8.
    assert out.tolist() == [1, 1, 2, 2, 3, 3, 3, 10, 10, 10, 10]


def test_spread_reads_sparse_template_frames_of_each_video():
    clips = clips_of([0, 0], [5, 5], [0, 1, 2], videos=("a", "b"))
    values = np.array([[1.0], [2.0]], np.float32)
    pos = Positions(
        np.array(["b", "a"]), np.array([0, 2, 3]), np.array([2, 9, 4], np.int32), np.zeros((3, 2))
    )
    assert spread(clips, pos, values)[:, 0].tolist() == [2, 2, 1]


def test_a_video_without_clips_is_an_error_naming_it():
    clips = clips_of([0], [5], [0, 1], videos=("a",))
    pos = Positions(
        np.array(["a", "zz"]), np.array([0, 2, 4]), np.array([1, 2, 1, 2], np.int32), np.zeros((4, 2))
    )
    with pytest.raises(AbawError, match="zz"):
        spread(clips, pos, np.ones((1, 1), np.float32))


def test_sequences_cover_every_clip_with_an_end_aligned_one():
    offsets = np.array([0, 3, 13], np.int64)
    seqs = make_sequences(offsets, 4, 2)
    covered = np.zeros(13, int)
    for row, length in zip(seqs.row, seqs.length, strict=True):
        covered[row : row + length] += 1
        assert row >= 0 and row + length <= 13
    assert (covered > 0).all()
    assert (seqs.row[seqs.length == 4] + 4).max() == 13  # the last sequence ends on the last clip
    batch = gather(
        seqs, np.arange(len(seqs)), 4, np.arange(13, dtype=np.float32)[:, None], np.zeros((13, 2), np.float32)
    )
    assert batch["mask"][0].tolist() == [True, True, True, False]  # the 3-clip video is padded
    assert batch["target"][0, 3].isnan().all()


def test_reads_the_named_vectors_concatenated(behaviour):
    cfg = stage_config.load(behaviour, ["input.features=['mm_last', 'mm_mean']"])
    clips = read_clips(cfg, "train")
    assert clips.dim == 17 and clips.feature_dims == (12, 5) and clips.features.dtype == np.float32


def test_bad_inputs_get_one_clear_message(behaviour):
    cfg = stage_config.load(behaviour, ["input.features=['visual_mean']"])
    with pytest.raises(AbawError, match="no embedding named 'visual_mean'.*mm_last, mm_mean"):
        read_clips(cfg, "train")
    cfg = stage_config.load(behaviour)
    train = read_clips(cfg, "train")
    path = behaviour.parent / "segments" / "val.npz"
    table = read_table(path)
    narrow = {"mm_last": table.columns["embedding/mm_last"][:, :6]}
    meta = make_meta("segments", "val", "behaviour", "src_behavior_description")
    write_table(
        path,
        segments_table(
            table.videos,
            table.offsets,
            start=table.columns["start"],
            stop=table.columns["stop"],
            meta=meta,
            embeddings=narrow,
        ),
    )
    with pytest.raises(AbawError, match=r"\[6\]-d .* built for \[12\]-d"):
        read_clips(cfg, "val", expect=train)
    empty = segments_table([], [0], start=[], stop=[], meta=meta, embeddings={"mm_last": np.zeros((0, 12))})
    write_table(path, empty)
    with pytest.raises(AbawError, match="val split has no clips"):
        read_clips(cfg, "val")
