"""`windows --split S`: the audio windows of every stream of a split, with 1 s labels and reliability.

Windows follow the shared clip rule (`abaw.clips`) over each stream's video (`X_left`/`X_right` use video
`X`), timed from the videos or from `[data] video_timing`. Written to `<windows dir>/<split>.npz` as a
`windows` table: `start`, `stop` (frame rows), `label` [N, steps, 2], the reliability columns `coverage`,
`open_sec`, `speech_ratio`, `reliable`, and `begin`, `end` (seconds), `fps` and `has_audio`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from abaw.affwild import base_video, index_split, read_template
from abaw.clips import ClipRule, plan_clips
from abaw.errors import AbawError
from abaw.tables import Table, make_meta, read_table, windows_table, write_table
from abaw.timing import stream_timing
from src_audio_and_fusion import mouth, vad
from src_audio_and_fusion.bins import bin_labels, bin_rows, bin_times
from src_audio_and_fusion.config import StageConfig, wav_dir, windows_dir, windows_sha
from src_audio_and_fusion.wav import OK, audio_status, wav_path

log = logging.getLogger("abaw.audio")

PRODUCER = "src_audio_and_fusion"
USES_MOUTH = ("mouth", "both", "either")
USES_VAD = ("vad", "both", "either")


@dataclass
class Streams:
    """The streams of a split: names, rows per stream and labels [N, 2] (NaN = none) in CSR order."""

    videos: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def split_streams(cfg: StageConfig, split: str) -> Streams:
    """Train/val streams from the annotation files; test streams (unlabelled) from the template."""
    if split == "test":
        template = read_template(cfg.data.test_template)
        counts = np.zeros(len(template.videos), np.int64)
        np.maximum.at(counts, template.video_idx, template.frames.astype(np.int64))
        offsets = np.concatenate([[0], np.cumsum(counts)])
        return Streams(template.videos, offsets, np.full((int(offsets[-1]), 2), np.nan, np.float32))
    index = index_split(cfg.data.annotations, split)
    return Streams(index.videos, np.asarray(index.offsets, np.int64), index.labels)


def policy_reliable(policy: str, mouth_ok: np.ndarray, vad_ok: np.ndarray) -> np.ndarray:
    return {"mouth": mouth_ok, "vad": vad_ok, "both": mouth_ok & vad_ok, "either": mouth_ok | vad_ok,
            "none": np.ones_like(mouth_ok)}[policy]


def build_windows(cfg: StageConfig, split: str) -> Table:
    """The windows table of one split."""
    w, rel = cfg.windows, cfg.reliability
    streams = split_streams(cfg, split)
    fps, frames = stream_timing(cfg.data, streams.videos.tolist())
    lengths = streams.lengths
    longer = np.flatnonzero(lengths > frames)
    if longer.size:
        i = int(longer[0])
        raise AbawError(f"stream {streams.videos[i]} has {lengths[i]} annotation rows but its video "
                        f"{base_video(str(streams.videos[i]))} has {frames[i]} frames; the annotation "
                        "does not belong to this video (or the video file is cut short): fix the file or "
                        "the timing")
    plan = plan_clips(frames, fps, ClipRule(w.length, w.hop, w.min_length), streams.videos)
    video_of = plan.video_of_row()
    b0, b1, valid = bin_times(plan.begin, plan.end, w.steps)
    lo, hi = bin_rows(b0, b1, fps[video_of])
    label = bin_labels(streams.labels, streams.offsets[video_of], lengths[video_of], lo, hi, valid)

    k = plan.n_clips
    coverage = np.full(k, np.nan, np.float32)
    open_sec = np.full(k, np.nan, np.float32)
    speech = np.full(k, np.nan, np.float32)
    status = audio_status(cfg)
    if not status:
        log.warning("%s: no audio recorded there yet, so every window is marked without audio; run "
                    "extract-audio first", wav_dir(cfg))
    has_audio = np.array([status.get(base_video(str(v))) == OK for v in streams.videos])[video_of]
    speech_cache: dict[str, np.ndarray] = {}
    for i in tqdm(range(len(streams.videos)), desc=f"windows {split}", unit="stream"):
        rows = plan.rows(str(streams.videos[i]))
        if rows.stop == rows.start:
            continue
        stream = str(streams.videos[i])
        if rel.policy in USES_MOUTH:
            present, is_open = mouth.read_openmouth(rel.openmouth / f"{stream}.csv", int(frames[i]))
            smoothed = mouth.smooth_open(is_open, float(fps[i]))
            coverage[rows], open_sec[rows] = mouth.mouth_columns(
                present, smoothed, plan.start[rows], plan.stop[rows], float(fps[i]))
        if rel.policy in USES_VAD and has_audio[rows.start]:
            base = base_video(stream)
            if base not in speech_cache:
                speech_cache[base] = vad.wav_speech(wav_path(wav_dir(cfg), base), rel.vad_threshold)
            speech[rows] = vad.speech_ratio(speech_cache[base], plan.begin[rows], plan.end[rows])
    seconds = (plan.end - plan.begin).astype(np.float32)
    with np.errstate(invalid="ignore"):
        mouth_ok = (open_sec >= rel.min_open_ratio * seconds) & (coverage >= rel.min_coverage)
        vad_ok = speech >= rel.min_speech_ratio
    reliable = policy_reliable(rel.policy, mouth_ok, vad_ok) & has_audio
    meta = make_meta("windows", split, "audio", PRODUCER, windows_sha(cfg), length=w.length, hop=w.hop,
                     min_length=w.min_length, steps=w.steps, policy=rel.policy)
    return windows_table(streams.videos, plan.offsets, start=plan.start, stop=plan.stop, label=label,
                         coverage=coverage, open_sec=open_sec, speech_ratio=speech, meta=meta,
                         reliable=reliable, has_audio=has_audio, begin=plan.begin, end=plan.end,
                         fps=fps[video_of], stream_rows=lengths[video_of])


def write_windows(cfg: StageConfig, split: str) -> dict:
    table = build_windows(cfg, split)
    path = windows_dir(cfg) / f"{split}.npz"
    write_table(path, table)
    cols = table.columns
    labelled = np.isfinite(cols["label"]).all(axis=2).sum(axis=1) >= cfg.train_audio.min_labelled_steps
    return {"path": str(path), "streams": len(table.videos), "windows": table.n_rows,
            "reliable": int(cols["reliable"].sum()), "without_audio": int((~cols["has_audio"]).sum()),
            "trainable": int((cols["reliable"] & labelled).sum())}


def load_windows(cfg: StageConfig, split: str) -> Table:
    """A split's windows table, checked to come from the current [windows] and [reliability] settings."""
    path = windows_dir(cfg) / f"{split}.npz"
    if not path.is_file():
        raise AbawError(f"{path}: no windows table; run `main.py windows --split {split}` first")
    table = read_table(path, "windows", rerun=f"rerun `main.py windows --split {split}`")
    if table.meta.get("config_sha") != windows_sha(cfg):
        raise AbawError(f"{path}: written with other [windows]/[reliability] settings; rerun "
                        f"`main.py windows --split {split}`")
    return table
