"""RAAV data at Aff-Wild2 size: memory over the raw arrays and the data pipeline's windows per second.

    python bench/raav_data.py [--frames N] [--videos V] [--batch B] [--json]

Builds in memory what `train-fusion` reads for train + val at Aff-Wild2 size (2,065,871 frames in 432
streams, face and behaviour `frames` tables with 256-d float16 embeddings, audio `windows` tables with
4 x 256 float16 step embeddings, 4 s windows every 2 s at 30 fps), puts them on the frame grid with the
stage's own code (`modality_of`, `audio_of`) and then gathers every window once in training batches
(`FusionSplit.batch`), which is the whole data pipeline of an epoch. Memory is the raw arrays (embeddings
and predictions of every table) plus what the fusion adds (row indices, validity, labels, sample starts),
counted from the arrays' sizes; the ratio to the raw bytes is the figure with a target of 1.2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from abaw.clips import ClipRule, plan_clips  # noqa: E402
from abaw.positions import Positions  # noqa: E402
from abaw.tables import frames_table, make_meta, windows_table  # noqa: E402
from src_audio_and_fusion.fusion_data import FusionSplit, audio_of, frame_grid, modality_of  # noqa: E402

MEMORY_TARGET = 1.2
RATE_TARGET = 2000.0
FPS = 30.0


def build(frames: int, videos: int, dim: int, seed: int = 0) -> tuple[FusionSplit, int]:
    rng = np.random.default_rng(seed)
    counts = np.full(videos, frames // videos, np.int64)
    counts[: frames % videos] += 1
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    names = np.array([f"{i:04d}" for i in range(videos)])
    frame = (np.arange(frames) - np.repeat(offsets[:-1], counts) + 1).astype(np.int32)
    labels = rng.uniform(-1, 1, (frames, 2)).astype(np.float32)
    pos = Positions(names, offsets, frame, labels, source="bench")
    grid_offsets, position_rows = frame_grid(pos)
    raw = 0
    modalities = []
    for name in ("face", "behaviour"):
        embedding = rng.standard_normal((frames, dim), np.float32).astype(np.float16)
        prediction = rng.uniform(-1, 1, (frames, 2)).astype(np.float32)
        extra = {"face": rng.random(frames) < 0.9} if name == "face" else {}
        table = frames_table(names, offsets, frame=frame, embedding=embedding, prediction=prediction,
                             label=labels, meta=make_meta("frames", "train", name, "bench"), **extra)
        raw += embedding.nbytes + prediction.nbytes
        modalities.append(modality_of(name, table, Path(name), "train", pos, grid_offsets))
    plan = plan_clips(counts, np.full(videos, FPS), ClipRule(), names)
    k = plan.n_clips
    emb = rng.standard_normal((k, 4, dim), np.float32).astype(np.float16)
    pred = rng.uniform(-1, 1, (k, 4, 2)).astype(np.float32)
    windows = windows_table(names, plan.offsets, start=plan.start, stop=plan.stop, embedding=emb,
                            prediction=pred, meta=make_meta("windows", "train", "audio", "bench"),
                            reliable=rng.random(k) < 0.5, stream_rows=counts[plan.video_of_row()],
                            begin=plan.begin, end=plan.end, fps=np.full(k, FPS, np.float32))
    raw += emb.nbytes + pred.nbytes
    audio, starts, lengths = audio_of(windows, Path("audio"), "train", pos, grid_offsets, "column")
    grid_labels = np.full((int(grid_offsets[-1]), 2), np.nan, np.float32)
    grid_labels[position_rows] = labels
    split = FusionSplit("train", pos, grid_offsets, grid_labels, position_rows, starts, lengths, modalities,
                        audio)
    return split, raw


def added_bytes(split: FusionSplit) -> int:
    """Bytes the fusion holds beyond the tables' embeddings and predictions (the positions included)."""
    own = [split.offsets, split.labels, split.position_rows, split.starts, split.lengths,
           split.positions.frames, split.positions.offsets, split.positions.labels]
    own += [a for m in split.modalities for a in (m.rows, m.valid)]
    assert split.audio is not None
    own.append(split.audio.reliable)
    return sum(a.nbytes for a in own)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2_065_871)
    parser.add_argument("--videos", type=int, default=432)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    split, raw = build(args.frames, args.videos, args.dim)
    built = time.perf_counter() - started
    added = added_bytes(split)
    order = np.random.default_rng(0).permutation(split.n_samples)
    wall, cpu = time.perf_counter(), time.process_time()
    for a in range(0, len(order), args.batch):
        split.batch(order[a:a + args.batch])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = {"frames": split.n_frames, "windows": split.n_samples, "raw_bytes": raw,
              "added_bytes": added,
              "memory_ratio": (raw + added) / raw, "memory_target": MEMORY_TARGET, "build_s": built,
              "epoch_wall_s": wall, "epoch_cpu_s": cpu, "windows_per_s_wall": split.n_samples / wall,
              "windows_per_s_cpu": split.n_samples / cpu, "rate_target": RATE_TARGET}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['frames']:,} frames, {result['windows']:,} windows; raw arrays {raw / 2**30:.2f} GiB, "
          f"added by the fusion {added / 2**20:.0f} MiB: ratio {result['memory_ratio']:.3f} "
          f"(target <= {MEMORY_TARGET})")
    print(f"grid and lookups: {built:.1f} s; one epoch of batches of {args.batch}: {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU = {result['windows_per_s_wall']:,.0f} windows/s wall, "
          f"{result['windows_per_s_cpu']:,.0f} CPU (target >= {RATE_TARGET:,.0f}; "
          f"ratio {result['windows_per_s_wall'] / RATE_TARGET:.2f} wall)")


if __name__ == "__main__":
    main()
