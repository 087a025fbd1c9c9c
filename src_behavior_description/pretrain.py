"""`warmup`: the demo describer, a tiny random Qwen3-VL trained to see affect on separate synthetic data.

A random-weight model carries no valence/arousal signal, so the demo stands in for a pretrained
vision-language model with a short warm-up: the synthetic generator is run with another seed (a
separate dataset, never the clips the behaviour model later trains and validates on), its labelled
clips are sampled exactly as `describe` samples them, and `warmup.warmup` trains the tiny model on them
and saves it into `describer.path`, from where `describe` loads it like any checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from abaw.affwild import find_video_file
from abaw.config import DataConfig, load_section
from abaw.errors import AbawError
from src_behavior_description.config import BehaviourConfig, warmup_data_dir, warmup_start_dir
from src_behavior_description.describer import Clip
from src_behavior_description.sampling import ClipJob, clip_jobs, clip_loader
from src_behavior_description.segments import plan_split

log = logging.getLogger("abaw.behaviour")


def dataset_seed(data: DataConfig) -> tuple[str, int] | None:
    """(preset, seed) of a synthetic dataset from its `dataset.json`, None for other data."""
    description = Path(data.annotations).parent / "dataset.json"
    if not description.is_file():
        return None
    meta = json.loads(description.read_text())
    return meta.get("preset"), meta.get("seed")


def warmup_data(cfg: BehaviourConfig) -> DataConfig:
    """Generate (or reuse) the separate synthetic dataset; refuse one with the stage's own seed."""
    from abaw.synth.generator import generate

    own = dataset_seed(cfg.data)
    if own is not None and own == (cfg.warmup.preset, cfg.warmup.data_seed):
        raise AbawError(f"warmup.data_seed = {cfg.warmup.data_seed} is the seed of the {own[0]} dataset in "
                        f"[data]; the warm-up must see other clips than the ones described later, "
                        "so choose another seed")
    folder = warmup_data_dir(cfg)
    generate(folder, cfg.warmup.preset, seed=cfg.warmup.data_seed, progress=True)
    data = load_section(DataConfig, folder / "data.toml", "data")
    return dataclasses.replace(data, output_root=folder / "outputs", video_timing=None)


def labelled_jobs(cfg: BehaviourConfig, data: DataConfig) -> tuple[list[ClipJob], np.ndarray, list[str]]:
    """Jobs of every clip with a label in the warm-up splits, their labels [N, 2] and streams."""
    jobs: list[ClipJob] = []
    labels = []
    streams: list[str] = []
    for split in (*cfg.warmup.splits, *cfg.warmup.held_out):
        sp = plan_split(data, cfg.clips, split)
        for i, stream in enumerate(sp.streams.tolist()):
            rows = sp.plan.rows(stream)
            keep = np.isfinite(sp.labels[rows]).all(axis=1)
            path = find_video_file(data.videos, str(sp.bases[i]))
            jobs += clip_jobs(path, sp.plan.start[rows][keep], sp.plan.stop[rows][keep], float(sp.fps[i]),
                              cfg.sampling, first_key=len(jobs))
            labels.append(sp.labels[rows][keep])
            streams += [f"{split}/{stream}"] * int(keep.sum())
    return jobs, np.concatenate(labels) if labels else np.zeros((0, 2), np.float32), streams


def sample_clips(cfg: BehaviourConfig, jobs: list[ClipJob]) -> list[Clip | None]:
    clips: list[Clip | None] = [None] * len(jobs)
    for item in tqdm(clip_loader(jobs, cfg.sampling), total=len(jobs), desc="warm-up clips", unit="clip"):
        clips[item.key] = item.clip
        if item.clip is None:
            log.warning("warm-up clip %d of %s skipped: %s", item.key, jobs[item.key].path, item.error)
    return clips


def run_warmup(cfg: BehaviourConfig) -> dict:
    """Sample the separate dataset's labelled clips, train the tiny model on them, save it to
    describer.path."""
    from src_behavior_description.warmup import warmup

    if cfg.describer.kind != "qwen3vl":
        raise AbawError(f"describer.kind = {cfg.describer.kind!r}: warmup saves the trained model into "
                        "describer.path for `describe` to load as a checkpoint; set "
                        "describer.kind = \"qwen3vl\"")
    began = time.perf_counter()
    data = warmup_data(cfg)
    generated = time.perf_counter()
    jobs, labels, streams = labelled_jobs(cfg, data)
    clips = sample_clips(cfg, jobs)
    kept = [i for i, c in enumerate(clips) if c is not None]
    pairs = [(clips[i], labels[i]) for i in kept]
    w = cfg.warmup
    sampled = time.perf_counter()
    start = dataclasses.replace(cfg.describer, kind="tiny", path=warmup_start_dir(cfg))
    figures = warmup(start, pairs, cfg.describer.path, epochs=w.epochs, lr=w.lr, seed=w.seed,
                     videos=[streams[i] for i in kept] if w.centre_per_video or w.per_video else None,
                     per_video=w.per_video,
                     vision_only=w.vision_only, flip=w.flip, shift=w.shift,
                     held_out=[streams[i].split("/")[0] in w.held_out for i in kept] if w.held_out else None)
    done = time.perf_counter()
    return {**figures, "data": str(warmup_data_dir(cfg)),
            "model": str(cfg.describer.path), "generation_seconds": generated - began,
            "sampling_seconds": sampled - generated,
            "training_seconds": done - sampled, "seconds": done - began}
