import numpy as np
import torch

from abaw.windowed import (
    FrameGrid,
    IndexedRows,
    Windows,
    WindowSet,
    fill_rows,
    gather,
    make_windows,
    shift_back,
    shift_labels,
)


def test_fill_rows_takes_own_then_nearest():
    rows, face = fill_rows(np.arange(1, 9), np.array([2, 3, 7]))
    assert face.tolist() == [False, True, True, False, False, False, True, False]
    assert rows.tolist() == [0, 0, 1, 1, 1, 2, 2, 2]  # frame 5 is 2 from frame 3 and 7: the earlier wins
    rows, face = fill_rows(np.arange(1, 4), np.zeros(0, np.int32))
    assert not face.any()
    rows, face = fill_rows(np.array([1, 2]), np.array([5, 6]))  # crops only outside the positions
    assert not face.any()


def test_fill_rows_measures_nearest_in_frames_over_every_crop():
    # Crops of frames that are not positions (past the annotation, between sparse template rows) count.
    rows, face = fill_rows(np.arange(1, 6), np.array([1, 6]))
    assert face.tolist() == [True, False, False, False, False]
    assert rows.tolist() == [0, 0, 0, 1, 1]  # frame 4 is 3 from frame 1 and 2 from frame 6
    rows, face = fill_rows(np.array([10, 20, 30]), np.array([11, 19, 29, 40]))
    assert not face.any() and rows.tolist() == [0, 1, 2]
    rows, face = fill_rows(np.array([7, 8]), np.array([1, 9]))
    assert not face.any() and rows.tolist() == [1, 1]


def test_time_shift_roundtrip():
    labels = np.arange(10, dtype=np.float32).reshape(5, 2)
    offsets = np.array([0, 3, 5])
    shifted = shift_labels(labels, offsets, 1)
    np.testing.assert_array_equal(shifted[[0, 1, 3]], labels[[1, 2, 4]])
    assert np.isnan(shifted[[2, 4]]).all()  # no later frame in the same video
    back = shift_back(shifted, offsets, 1)
    np.testing.assert_array_equal(back[[1, 2, 4]], labels[[1, 2, 4]])
    np.testing.assert_array_equal(back[0], back[1])  # the first frame holds the edge
    assert shift_labels(labels, offsets, 0) is labels
    np.testing.assert_array_equal(shift_labels(labels, offsets, -1)[1], labels[0])


def test_windows_cover_every_frame_and_end_aligned():
    offsets = np.array([0, 10, 13, 13, 30])
    w = make_windows(offsets, 8, 4)
    covered = np.zeros(30, int)
    for row, length in zip(w.row, w.length, strict=True):
        covered[row:row + length] += 1
    assert (covered > 0).all()
    assert w.video.tolist() == [0, 0, 1, 3, 3, 3, 3]  # 17 frames: starts 0, 4, 8 and 9
    assert w.row[1] == 2 and w.length[2] == 3  # end-aligned window of video 0; short video 1
    assert w.row[-1] + w.length[-1] == 30


def test_gather_slices_masks_and_pads():
    features = np.arange(20, dtype=np.float32).reshape(10, 2)
    targets = np.arange(20, dtype=np.float32).reshape(10, 2) + 100
    windows = Windows(np.array([0, 1]), np.array([0, 7]), np.array([4, 3]))
    batch = gather(windows, np.array([1, 0]), 4, {"features": features}, targets)
    assert batch["features"].shape == (2, 4, 2)
    np.testing.assert_array_equal(batch["features"][0, :3].numpy(), features[7:10])
    assert batch["mask"].tolist() == [[True, True, True, False], [True] * 4]
    assert np.isnan(batch["target"][0, 3].numpy()).all()
    np.testing.assert_array_equal(batch["target"][1].numpy(), targets[:4])
    assert "target" not in gather(windows, np.array([0]), 4, {"features": features})


def test_indexed_rows_gather_through_the_index_with_zeros_where_absent():
    embedding = np.arange(6, dtype=np.float16).reshape(3, 2) + 1
    prediction = np.arange(3, dtype=np.float32)[:, None] - 5
    rows = IndexedRows((embedding, prediction), np.array([2, -1, 0, 0]))
    assert rows.shape == (4, 3) and len(rows) == 4
    np.testing.assert_array_equal(rows[:], [[5, 6, -3], [0, 0, 0], [1, 2, -5], [1, 2, -5]])
    windows = Windows(np.array([0]), np.array([0]), np.array([4]))
    batch = gather(windows, np.array([0]), 4, {"x": IndexedRows((embedding,), rows.index)})
    assert batch["x"].dtype == torch.float16  # stored float16 stays float16 in the batch
    np.testing.assert_array_equal(batch["x"][0].numpy(), rows[:][:, :2])


def test_frame_grid_has_a_slot_for_every_frame_number():
    frames = np.array([3, 4, 6, 7, 8, 10, 1, 2, 5])  # video 0 skips 5 and 9; video 1 skips 3 and 4
    grid = FrameGrid.of(np.array([0, 6, 9]), frames)
    assert grid.offsets.tolist() == [0, 8, 13]  # frames 3..10, then 1..5
    assert grid.slots.tolist() == [0, 1, 3, 4, 5, 7, 8, 9, 12]
    assert grid.rows.tolist() == [0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 8]  # a gap reads its nearest frame
    labels = np.arange(18, dtype=np.float32).reshape(9, 2)
    on_grid = grid.spread(labels)
    np.testing.assert_array_equal(on_grid[grid.slots], labels)
    assert np.isnan(on_grid[[2, 6, 10, 11]]).all()
    # A delay of 2 frames: frame 4 learns frame 6's label, frame 3 learns frame 5's, which has none.
    targets = shift_labels(on_grid, grid.offsets, 2)[grid.slots]
    np.testing.assert_array_equal(targets[1], labels[2])
    assert np.isnan(targets[0]).all()
    back = grid.shift_back(labels, 2)  # frame 6 takes frame 4's output, frame 10 that of frame 8
    np.testing.assert_array_equal(back[2], labels[1])
    np.testing.assert_array_equal(back[5], labels[4])


def test_frame_grid_of_rows_without_gaps_is_the_rows():
    grid = FrameGrid.of(np.array([0, 4, 4, 7]), np.array([1, 2, 3, 4, 1, 2, 3]))
    assert grid.offsets.tolist() == [0, 4, 4, 7]
    assert grid.rows.tolist() == grid.slots.tolist() == list(range(7))
def test_window_set_collates_a_batch():
    features = np.arange(40, dtype=np.float32).reshape(20, 2)
    targets = np.zeros((20, 2), np.float32)
    windows = Windows(np.zeros(3, np.int64), np.array([0, 4, 8]), np.array([6, 6, 6]))
    dataset = WindowSet(windows, {"features": features}, targets, 6)
    assert len(dataset) == 3 and dataset[2] == 2
    batch = dataset.collate([2, 0])
    assert batch["features"].shape == (2, 6, 2) and batch["features"][0, 0, 0] == 16
