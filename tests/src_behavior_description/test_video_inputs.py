"""The numpy video inputs against the Qwen3-VL processor's own code (the parts that run without
torchvision: patchify, the fused normalisation constants, timestamps, placeholder text)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor
from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor
from transformers.video_utils import VideoMetadata

from src_behavior_description import video_inputs as vi


def frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("shape", [(2, 32, 32), (4, 64, 96), (16, 96, 64)])
def test_pixel_values_equal_the_processor_bit_for_bit(shape):
    clip = frames(*shape)
    proc = Qwen3VLVideoProcessor()
    mean, std, _ = proc._fuse_mean_std_and_rescale_factor(
        do_normalize=True, image_mean=proc.image_mean, image_std=proc.image_std, do_rescale=True,
        rescale_factor=proc.rescale_factor)
    video = torch.from_numpy(clip).permute(0, 3, 1, 2).float()[None]          # [1,T,C,H,W]
    # What the processor's fused rescale+normalise does to each frame: (x - mean) / std per channel.
    video = (video - mean.view(1, 1, 3, 1, 1)) / std.view(1, 1, 3, 1, 1)
    expected, gt, gh, gw = proc.patchify(video, patch_size=16, merge_size=2, temporal_patch_size=2)

    layout = vi.VideoLayout(mean=tuple(proc.image_mean), std=tuple(proc.image_std),
                            rescale=proc.rescale_factor)
    got = vi.pixel_values(clip, layout)
    assert got.dtype == np.float32
    assert np.array_equal(got, expected[0].numpy())
    assert vi.grid_thw(clip.shape, layout) == (gt, gh, gw)


def test_timestamps_and_placeholder_equal_the_processor():
    fps, indices = 25.0, [3, 9, 15, 22, 28, 34]
    times = np.asarray(indices) / fps
    expected_stamps = Qwen3VLProcessor._calculate_timestamps(None, list(indices), fps, 2)
    stamps = vi.pair_timestamps(times)
    assert np.allclose(stamps, expected_stamps, rtol=0, atol=1e-12)

    layout = vi.VideoLayout()
    clip = frames(6, 64, 96)
    gt, gh, gw = vi.grid_thw(clip.shape, layout)
    def stamps_of(indices, fps, merge):
        return Qwen3VLProcessor._calculate_timestamps(None, indices, fps, merge)

    fake = SimpleNamespace(video_processor=SimpleNamespace(merge_size=2, temporal_patch_size=2),
                           video_token="<|video_pad|>", vision_start_token="<|vision_start|>",
                           vision_end_token="<|vision_end|>", _calculate_timestamps=stamps_of)
    inputs = {"video_grid_thw": torch.tensor([[gt, gh, gw]]),
              "video_metadata": [VideoMetadata(total_num_frames=40, fps=fps, frames_indices=indices)]}
    expected = Qwen3VLProcessor.replace_video_token(fake, inputs, 0)
    got = vi.video_placeholder(stamps, vi.tokens_per_group(clip.shape, layout))
    assert got == expected
    assert got.count("<|video_pad|>") == gt * gh * gw // 4 == 3 * 6
    assert got.startswith("<0.2 seconds><|vision_start|>")


def test_mm_token_type_ids_mark_video_and_image_tokens():
    ids = np.array([[5, 7, 7, 9, 8]])
    assert vi.mm_token_type_ids(ids, video_token_id=7).tolist() == [[0, 2, 2, 0, 0]]
    assert vi.mm_token_type_ids(ids, video_token_id=7, image_token_id=8).tolist() == [[0, 2, 2, 0, 1]]


@pytest.mark.parametrize("bad, message", [
    (np.zeros((3, 32, 32, 3), np.uint8), "multiple of 2 frames"),
    (np.zeros((0, 32, 32, 3), np.uint8), "multiple of 2 frames"),
    (np.zeros((2, 48, 32, 3), np.uint8), "multiples of 32"),
    (np.zeros((2, 32, 32, 3), np.float32), "uint8"),
    (np.zeros((2, 32, 32), np.uint8), "uint8"),
])
def test_bad_frames_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        vi.pixel_values(bad, vi.VideoLayout())
