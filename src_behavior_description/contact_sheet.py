"""`inspect`: one clip as the model sees it — its sampled frames, the description, token counts and label."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from abaw.affwild import base_video, find_video_file
from abaw.errors import AbawError
from abaw.plots import new_figure, save_figure
from abaw.timing import split_videos
from src_behavior_description.config import SPLITS, BehaviourConfig, stage_dir
from src_behavior_description.describer import Clip, Describer, Description
from src_behavior_description.sampling import ClipDataset, clip_jobs
from src_behavior_description.segments import plan_split

COLUMNS = 8  # frames per row of the sheet


def find_split(cfg: BehaviourConfig, video: str) -> str:
    """The split whose annotation files (or template) hold stream `video`."""
    persons = []
    for split in SPLITS:
        try:
            streams = split_videos(cfg.data, split).tolist()
        except AbawError:  # a split that is not on disk cannot hold the stream
            continue
        if video in streams:
            return split
        persons += [s for s in streams if base_video(s) == video]
    hint = (f"; its streams are {', '.join(persons)}" if persons
            else " (e.g. 10-60-1280x720 or 10-60-1280x720_right)")
    raise AbawError(f"--video {video}: no stream of that name in the train, val or test annotations; give "
                    f"an annotation file's stem{hint}")


def draw_sheet(path: Path, clip: Clip, description: Description, title: str) -> Path:
    """A grid of the frames with their times, the title above and the wrapped description below."""
    t = len(clip.frames)
    cols = min(COLUMNS, t)
    rows = -(-t // cols)
    h, w = clip.frames.shape[1:3]
    cell = 2.0
    text = textwrap.fill(description.text or "(no text)", width=110)
    lines = text.count("\n") + 1
    fig = new_figure(cols * cell * max(w / h, 0.5), rows * cell + 0.9 + 0.2 * lines)
    fig.suptitle(title, fontsize=9)
    grid = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(grid.ravel()):
        ax.axis("off")
        if k < t:
            ax.imshow(clip.frames[k])
            ax.set_title(f"{clip.times[k]:.2f} s", fontsize=7)
    fig.supxlabel(f"{text}\n\n{description.video_tokens} video tokens, {description.generated_tokens} "
                  "generated tokens", fontsize=8, ha="left", x=0.01)
    return save_figure(fig, path)


def inspect_clip(cfg: BehaviourConfig, video: str, clip: int, split: str | None = None,
                 out: Path | None = None) -> dict:
    """Sample, describe and draw clip `clip` (0-based) of stream `video`."""
    split = split or find_split(cfg, video)
    sp = plan_split(cfg.data, cfg.clips, split)
    rows = sp.plan.rows(video)
    n = rows.stop - rows.start
    if not 0 <= clip < n:
        raise AbawError(f"--clip {clip}: stream {video} has {n} clips; give 0 to {n - 1}")
    r = rows.start + clip
    i = sp.plan.position(video)
    path = find_video_file(cfg.data.videos, str(sp.bases[i]))
    if path is None:
        raise AbawError(f"no video file for {sp.bases[i]} under data.videos = {cfg.data.videos}")
    start, stop = sp.plan.start[r:r + 1], sp.plan.stop[r:r + 1]
    sampled = ClipDataset(clip_jobs(path, start, stop, float(sp.fps[i]), cfg.sampling), cfg.sampling)[0]
    if sampled.clip is None:
        raise AbawError(f"{path}: clip {clip} [{int(start[0])}, {int(stop[0])}): {sampled.error}")
    description = Describer.load(cfg.describer).describe([sampled.clip])[0]
    label = sp.labels[r]
    shown = "no label" if np.isnan(label).all() else f"valence {label[0]:+.3f}, arousal {label[1]:+.3f}"
    title = (f"{video} ({split}) clip {clip}: frames [{int(start[0])}, {int(stop[0])}), "
             f"{sp.plan.begin[r]:.2f}-{sp.plan.end[r]:.2f} s, {len(sampled.clip.frames)} frames "
             f"{sampled.clip.frames.shape[2]}x{sampled.clip.frames.shape[1]}; label: {shown}")
    png = draw_sheet(out or stage_dir(cfg) / "inspect" / f"{video}_clip{clip}.png", sampled.clip, description,
                     title)
    return {"video": video, "split": split, "clip": clip, "start": int(start[0]), "stop": int(stop[0]),
            "label": [float(v) for v in label], "description": description.text,
            "video_tokens": description.video_tokens, "generated_tokens": description.generated_tokens,
            "frames": len(sampled.clip.frames), "png": str(png)}
