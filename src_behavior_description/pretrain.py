"""`warmup`: the demo describer, a tiny random Qwen3-VL trained to see affect on separate synthetic data.

A random-weight model carries no valence/arousal signal, so the demo stands in for a pretrained
vision-language model with a short warm-up: the synthetic generator is run with other seeds (separate
datasets, never the clips the behaviour model later trains and validates on), its labelled clips are
planned and sampled exactly as `describe` plans and samples them, and `warmup.warmup` trains the tiny
model on them and saves it into `describer.path`, from where `describe` loads it like any checkpoint.

The warm-up needs only the sampled frames of the labelled clips, so they are drawn in memory by the
generator's own renderer at those rows and resized as `describe` resizes decoded frames: no video
file, crop, audio track or test split is written, and no codec round trip is paid for.
"""

from __future__ import annotations

import dataclasses
import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from abaw.clips import ClipRule, plan_clips
from abaw.config import DataConfig
from abaw.errors import AbawError
from src_behavior_description.config import BehaviourConfig, SamplingConfig, warmup_start_dir
from src_behavior_description.describer import Clip
from src_behavior_description.sampling import frame_counts, sample_rows, to_clip

Sample = tuple[Clip, np.ndarray, str]  # a clip, its label [2] and its stream


def dataset_seed(data: DataConfig) -> tuple[str, int] | None:
    """(preset, seed) of a synthetic dataset from its `dataset.json`, None for other data."""
    description = Path(data.annotations).parent / "dataset.json"
    if not description.is_file():
        return None
    meta = json.loads(description.read_text())
    return meta.get("preset"), meta.get("seed")


def _check_seeds(cfg: BehaviourConfig) -> None:
    """Refuse a warm-up seed that would draw the very dataset the stage describes."""
    own = dataset_seed(cfg.data)
    for seed in cfg.warmup.data_seeds:
        if own is not None and own == (cfg.warmup.preset, seed):
            raise AbawError(f"warmup.data_seeds holds {seed}, the seed of the {own[0]} dataset in [data]; "
                            "the warm-up must see other clips than the ones described later, so choose "
                            "other seeds")


@dataclasses.dataclass(frozen=True)
class RecordingTask:
    """One recording of a warm-up dataset to sample (what a worker process needs)."""

    seed: int
    preset: str
    stem: str
    rule: ClipRule
    sampling: SamplingConfig


def recording_clips(task: RecordingTask) -> list[Sample]:
    """The labelled clips of every stream of one recording: planned by the clip rule, frames drawn at
    the rows `describe` would decode and resized as it resizes them; labels are the clip means of the
    labelled frames (as `segments` computes them from the annotation files)."""
    from abaw.synth.media import Job, render_frames
    from abaw.synth.plan import make_plan
    from abaw.synth.presets import get_preset
    from abaw.synth.trajectories import person_tracks

    preset = get_preset(task.preset)
    rec = next(r for r in make_plan(preset, task.seed) if r.stem == task.stem)
    tracks = person_tracks(task.seed, rec, speech=preset.media)
    plan = plan_clips(np.array([rec.frames]), np.array([rec.fps]), task.rule)
    counts = frame_counts(plan.start, plan.stop, np.full(plan.n_clips, rec.fps), task.sampling)
    rows = [sample_rows(int(a), int(b), int(n))
            for a, b, n in zip(plan.start, plan.stop, counts, strict=True)]
    drawn = np.unique(np.concatenate(rows))
    frames = render_frames(Job(Path(), task.seed, rec, tuple(tracks)), drawn)
    samples: list[Sample] = []
    for video, track in zip(rec.videos, tracks, strict=True):
        values = np.stack([track.valence, track.arousal], axis=1).astype(np.float64)
        values[~track.labelled] = np.nan
        for start, stop, clip_rows in zip(plan.start, plan.stop, rows, strict=True):
            if not track.labelled[start:stop].any() or len(clip_rows) < 2:
                continue
            label = np.nanmean(values[start:stop], axis=0)
            picked = frames[np.searchsorted(drawn, clip_rows)]
            samples.append((to_clip(list(picked), clip_rows / rec.fps, task.sampling),
                            label.astype(np.float32), f"{task.seed}/{rec.split}/{video}"))
    return samples


def warmup_tasks(cfg: BehaviourConfig) -> list[RecordingTask]:
    """The recordings of the warm-up splits of every warm-up dataset, longest first."""
    from abaw.synth.plan import make_plan
    from abaw.synth.presets import get_preset

    preset = get_preset(cfg.warmup.preset)
    if not preset.media:
        raise AbawError(f"warmup.preset = {cfg.warmup.preset!r} has no videos; use a preset with media "
                        "(demo or tiny)")
    splits = (*cfg.warmup.splits, *cfg.warmup.held_out)
    recordings = [(seed, rec) for seed in cfg.warmup.data_seeds for rec in make_plan(preset, seed)
                  if rec.split in splits]
    recordings.sort(key=lambda item: -item[1].frames * item[1].persons)
    return [RecordingTask(seed, preset.name, rec.stem, cfg.clips, cfg.sampling) for seed, rec in recordings]


def warmup_samples(cfg: BehaviourConfig) -> list[Sample]:
    """Every labelled clip of the warm-up datasets, drawn by `sampling.workers` processes."""
    tasks = warmup_tasks(cfg)
    samples: list[Sample] = []
    bar = tqdm(total=len(tasks), desc="warm-up clips", unit="recording")
    if cfg.sampling.workers < 2:
        for task in tasks:
            samples += recording_clips(task)
            bar.update()
    else:
        # spawn: workers start clean, whatever threads torch already runs here
        with ProcessPoolExecutor(cfg.sampling.workers, mp_context=get_context("spawn")) as pool:
            for found in pool.map(recording_clips, tasks):
                samples += found
                bar.update()
    bar.close()
    return samples


def run_warmup(cfg: BehaviourConfig) -> dict:
    """Draw the warm-up datasets' labelled clips, train the tiny model on them, save it to
    describer.path."""
    from src_behavior_description.warmup import warmup

    if cfg.describer.kind != "qwen3vl":
        raise AbawError(f"describer.kind = {cfg.describer.kind!r}: warmup saves the trained model into "
                        "describer.path for `describe` to load as a checkpoint; set "
                        "describer.kind = \"qwen3vl\"")
    _check_seeds(cfg)
    began = time.perf_counter()
    samples = warmup_samples(cfg)
    w = cfg.warmup
    streams = [stream for _, _, stream in samples]
    sampled = time.perf_counter()
    start = dataclasses.replace(cfg.describer, kind="tiny", path=warmup_start_dir(cfg))
    figures = warmup(start, [(clip, label) for clip, label, _ in samples], cfg.describer.path,
                     epochs=w.epochs, lr=w.lr, seed=w.seed,
                     videos=streams if w.centre_per_video or w.per_video else None, per_video=w.per_video,
                     vision_only=w.vision_only, flip=w.flip, shift=w.shift,
                     held_out=[s.split("/")[1] in w.held_out for s in streams] if w.held_out else None)
    done = time.perf_counter()
    return {**figures, "data": f"{w.preset} preset, generator seeds {', '.join(map(str, w.data_seeds))}",
            "model": str(cfg.describer.path), "sampling_seconds": sampled - began,
            "training_seconds": done - sampled, "seconds": done - began}
