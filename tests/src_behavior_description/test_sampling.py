import cv2
import numpy as np

from abaw.affwild import find_video_file, probe_video
from src_behavior_description.config import SamplingConfig
from src_behavior_description.sampling import (
    ClipDataset,
    ClipJob,
    clip_jobs,
    clip_loader,
    fit_size,
    frame_counts,
    sample_rows,
)

CFG = SamplingConfig(max_pixels=4096, min_pixels=1024, workers=0)


def test_frame_counts_at_4_fps_between_4_and_16_even_and_within_the_clip():
    start = np.array([0, 0, 0, 0, 0, 0, 0, 0])
    stop = np.array([100, 250, 62, 25, 70, 3, 1, 5])
    fps = np.full(8, 25.0)
    # 4 s -> 16; 10 s -> capped at 16; 2.48 s -> 10; 1 s -> 4 (the floor); 2.8 s -> 11 -> 10 (even);
    # 3 frames -> 2 (never more than the clip has, even); 1 frame -> 0 (cannot be described); 5 -> 4.
    assert frame_counts(start, stop, fps, CFG).tolist() == [16, 16, 10, 4, 10, 2, 0, 4]


def test_rows_are_spread_uniformly_and_stay_inside():
    rows = sample_rows(100, 200, 16)
    assert rows.tolist() == [103, 109, 115, 121, 128, 134, 140, 146, 153, 159, 165, 171, 178, 184, 190, 196]
    assert sample_rows(10, 12, 2).tolist() == [10, 11]


def test_sizes_are_multiples_of_32_under_the_budget():
    for height, width in [(240, 320), (360, 640), (1080, 1920), (20, 30), (480, 240)]:
        h, w = fit_size(height, width, CFG)
        assert h % 32 == 0 and w % 32 == 0
        assert CFG.min_pixels <= h * w <= CFG.max_pixels
    assert fit_size(360, 640, SamplingConfig(max_pixels=640 * 360)) == (352, 640)
    assert fit_size(1080, 1920, SamplingConfig(max_pixels=640 * 360)) == (352, 640)


def sequential_frames(path, rows):
    capture = cv2.VideoCapture(str(path))
    frames, k = {}, 0
    while k <= rows.max():
        ok, image = capture.read()
        assert ok
        if k in rows:
            frames[k] = image
        k += 1
    capture.release()
    return [frames[r] for r in rows]


def test_seeking_decodes_the_same_frames_as_reading_through(tiny_dataset):
    for video in ("16-25-320x240", "1-15-320x240"):  # an .avi and an .mp4
        path = find_video_file(tiny_dataset / "videos", video)
        info = probe_video(path)
        jobs = clip_jobs(path, np.array([0, 50]), np.array([100, info.frames]), info.fps, CFG)
        for job in jobs:
            item = ClipDataset([job], CFG)[0]
            assert item.error == "" and item.clip.frames.shape[0] == len(job.rows)
            want = np.stack([cv2.resize(f, item.clip.frames.shape[2:0:-1], interpolation=cv2.INTER_AREA)
                             for f in sequential_frames(path, job.rows)])[..., ::-1]
            np.testing.assert_array_equal(item.clip.frames, want)
            np.testing.assert_allclose(item.clip.times, job.rows / info.fps)


def test_workers_return_clips_in_order(tiny_dataset):
    path = find_video_file(tiny_dataset / "videos", "video4")
    info = probe_video(path)
    jobs = clip_jobs(path, np.array([0, 50, 100]), np.array([100, 150, 200]), info.fps, CFG)
    cfg = SamplingConfig(max_pixels=4096, min_pixels=1024, workers=2)
    items = list(clip_loader(jobs, cfg))
    assert [i.key for i in items] == [0, 1, 2]
    assert all(i.clip is not None and i.clip.frames.dtype == np.uint8 for i in items)


def test_unreadable_clips_say_why(tmp_path, tiny_dataset):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    item = ClipDataset([ClipJob(0, str(broken), np.arange(0, 16), 25.0)], CFG)[0]
    assert item.clip is None and "cannot open" in item.error
    item = ClipDataset([ClipJob(1, str(broken), np.arange(0, 1), 25.0)], CFG)[0]
    assert item.clip is None and "fewer than 2 frames" in item.error
    path = find_video_file(tiny_dataset / "videos", "video4")
    past_end = np.arange(10**6, 10**6 + 4)
    item = ClipDataset([ClipJob(2, str(path), past_end, 25.0)], CFG)[0]
    assert item.clip is None and "0 of 4 sampled frames" in item.error
