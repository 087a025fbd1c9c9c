"""Time `windows` (train + val) at Aff-Wild2 size: the `scale` preset plus generated mouth-openness files.

    python bench/audio_windows.py [--data DIR] [--reference-streams N] [--json]

The scale preset has labels only, so this writes, once, a `video,fps,frames` timing CSV from its
dataset.json (the `[data] video_timing` the stage reads instead of probing videos) and one
mouth-openness CSV per stream in the original's format. It then times building the windows tables
(clip plan, 1 s bin labels, mouth smoothing, coverage and open seconds) against a per-window Python
loop in the manner of the original implementation, run on the first N streams of each split and
scaled to the whole split by frame count. Wall and CPU time are both printed: on a shared machine the
CPU time is the figure that compares.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from abaw.atomic import atomic_path  # noqa: E402
from abaw.synth.labels import openmouth_text  # noqa: E402
from bench.protocol import ensure_scale_dataset  # noqa: E402

TARGET_S = 10.0


def prepare(data: Path) -> None:
    """Timing CSV and mouth-openness files for the scale dataset (skipped when already there)."""
    description = json.loads((data / "dataset.json").read_text())
    timing = data / "video_timing.csv"
    if not timing.is_file():
        lines = {r["stem"]: f"{r['stem']},{r['fps']!r},{r['frames']}\n" for r in description["recordings"]}
        timing.write_text("video,fps,frames\n" + "".join(lines[k] for k in sorted(lines)))
    folder = data / "openmouth"
    rng = np.random.default_rng(0)
    for video, info in description["videos"].items():
        path = folder / f"{video}.csv"
        if path.is_file():
            continue
        n = info["frames"]
        present = rng.random(n) < 0.9
        # Mouth movements: runs of a few frames, so the smoothing has gaps and blips to work on.
        is_open = np.repeat(rng.random(n // 4 + 1) < 0.4, 4)[:n]
        frames = np.flatnonzero(present) + 1
        area = np.where(is_open[present], 40.0, 10.0)
        with atomic_path(path) as tmp:
            tmp.write_bytes(openmouth_text(frames, area, is_open[present]))


def stage_config(data: Path, folder: Path):
    from src_audio_and_fusion import config as stage_config

    text = f"""
[data]
annotations = "{data}/annotations"
test_template = "{data}/test_template.txt"
videos = "{data}/videos"
output_root = "{folder}"
video_timing = "{data}/video_timing.csv"

[reliability]
openmouth = "{data}/openmouth"
"""
    (folder / "bench.toml").write_text(text)
    return stage_config.load(folder / "bench.toml")


def reference_split(cfg, split: str, limit: int) -> tuple[float, int]:
    """The per-window loop: read each stream's table, then for every window and bin slice and average.

    Returns (CPU seconds, frames covered) for the first `limit` streams.
    """
    import pandas as pd

    from abaw.affwild import index_split
    from abaw.timing import stream_timing

    index = index_split(cfg.data.annotations, split)
    streams = index.videos[:limit]
    fps, frames = stream_timing(cfg.data, streams.tolist())
    started = time.process_time()
    covered = 0
    for i, stream in enumerate(streams):
        labels = index.labels[index.rows(str(stream))]
        table = pd.read_csv(cfg.reliability.openmouth / f"{stream}.csv")
        is_open = dict(zip(table["frame"].tolist(), table["mouth_open"].tolist(), strict=True))
        flags = [bool(is_open.get(f + 1, 0)) for f in range(frames[i])]
        gap, blip = max(1, round(0.15 * fps[i])), max(1, round(0.20 * fps[i]))
        flags = _smooth(flags, gap, blip)
        duration = frames[i] / fps[i]
        t = 0.0
        while True:
            end = min(t + 4.0, duration)
            if end - t < 1.0 and t > 0:
                break
            s, e = round(t * fps[i]), min(round(end * fps[i]), frames[i])
            open_frames = sum(flags[s:e])
            present = sum(1 for f in range(s + 1, e + 1) if f in is_open)
            _ = (open_frames / fps[i], present / max(e - s, 1))
            for b in range(4):
                b0, b1 = t + b, min(t + b + 1, end)
                if b0 >= end:
                    break
                lo, hi = math.floor(b0 * fps[i]), max(math.ceil(b1 * fps[i]), math.floor(b0 * fps[i]) + 1)
                chunk = labels[lo:hi]
                if len(chunk):
                    np.nanmean(chunk, axis=0) if np.isfinite(chunk).any() else None
            if end >= duration:
                break
            t += 2.0
        covered += int(frames[i])
    return time.process_time() - started, covered


def _smooth(flags: list[bool], gap: int, blip: int) -> list[bool]:
    out = list(flags)
    for value, limit, inner in ((False, gap, True), (True, blip, False)):
        i = 0
        while i < len(out):
            j = i
            while j < len(out) and out[j] == out[i]:
                j += 1
            if out[i] == value and j - i <= limit and (not inner or (i > 0 and j < len(out))):
                out[i:j] = [not value] * (j - i)
            i = j
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "abaw-scale")
    parser.add_argument("--reference-streams", type=int, default=12, help="streams the slow loop runs on")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ensure_scale_dataset(args.data)
    prepare(args.data)
    from src_audio_and_fusion.audio_windows import build_windows

    with tempfile.TemporaryDirectory() as tmp:
        cfg = stage_config(args.data, Path(tmp))
        result: dict[str, float] = {}
        total = cpu = 0.0
        frames_all = 0
        for split in ("train", "val"):
            started, cpu_started = time.perf_counter(), time.process_time()
            table = build_windows(cfg, split)
            seconds = time.perf_counter() - started
            total += seconds
            cpu += time.process_time() - cpu_started
            frames_all += int(table.columns["stream_rows"][table.offsets[:-1]].sum())
            result[f"{split}_s"] = round(seconds, 3)
            result[f"{split}_windows"] = table.n_rows
        ref_s, ref_frames = 0.0, 0
        for split in ("train", "val"):
            s, f = reference_split(cfg, split, args.reference_streams)
            ref_s, ref_frames = ref_s + s, ref_frames + f
        reference = ref_s * frames_all / ref_frames
    result.update({"total_s": round(total, 3), "cpu_s": round(cpu, 3), "target_s": TARGET_S,
                   "frames": frames_all, "reference_cpu_s_estimated": round(reference, 1),
                   "speedup_cpu": round(reference / cpu, 1)})
    print(f"windows train+val: {total:.2f} s wall, {cpu:.2f} s CPU for {frames_all:,} frames "
          f"(target < {TARGET_S:.0f} s); {result['train_windows']:,} + {result['val_windows']:,} windows")
    print(f"per-window Python loop ({args.reference_streams} streams per split, scaled): about "
          f"{reference:.0f} s CPU, {result['speedup_cpu']}x the vectorised CPU time")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
