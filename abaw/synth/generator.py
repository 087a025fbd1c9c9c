"""Write a synthetic Aff-Wild2-shaped dataset: labels always; videos, crops and mouth tables for media
presets; optional feature caches; then `data.toml`, and `dataset.json` last, so that a folder without it
holds an interrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from abaw.affwild import SPLIT_DIRS
from abaw.atomic import atomic_path, write_text
from abaw.errors import AbawError
from abaw.progress import progress as progress_bar
from abaw.synth import faces, features, voices
from abaw.synth.labels import template_text, write_annotation
from abaw.synth.media import Job, render_recording
from abaw.synth.plan import Recording, check_seed, make_plan
from abaw.synth.presets import SPLITS, Preset, get_preset
from abaw.synth.trajectories import TRAJECTORY, Track, person_tracks, speaking

GENERATOR_VERSION = "1"  # bump whenever the same seed would produce different files
PENDING = ".synth-pending.json"  # the settings of a run in progress; removed once dataset.json exists
OUTPUTS = ("annotations", "cropped_aligned", "videos", "openmouth", "features", "test_template.txt",
           "data.toml", "dataset.json", PENDING)
DATA_TOML = """\
# Written by `abaw synth`: the [data] section every stage reads; paths are relative to this file.
[data]
annotations = "annotations"
test_template = "test_template.txt"
cropped_aligned = "cropped_aligned"
videos = "videos"
output_root = "outputs"
"""


def generate(out: str | os.PathLike, preset: str | Preset = "tiny", seed: int = 0,
             features_dim: int | None = None, workers: int | None = None, force: bool = False,
             progress: bool = True) -> dict:
    """Generate a dataset into `out`; returns a summary (per-split videos, frames and labelled frames,
    recordings, crops, seconds). Media are rendered by `workers` processes (default: the CPUs, at most 8);
    a script calling this with several workers needs the usual `if __name__ == "__main__":` guard."""
    started = time.perf_counter()
    preset = get_preset(preset) if isinstance(preset, str) else preset
    request = {"generator": "abaw.synth", "version": GENERATOR_VERSION, "seed": check_seed(seed),
               "features": features.check_dim(features_dim), "preset": asdict(preset)}
    workers = _check_workers(workers)
    out = Path(out)
    if not force and _is_complete(out, request):
        description = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
        return _summary(out, description, started, cached=True)
    _claim(out, request, force)
    recordings = make_plan(preset, seed)
    tracks = {rec.stem: person_tracks(seed, rec, speech=preset.media) for rec in recordings}
    _write_labels(out, recordings, tracks)
    counts = _render(out, seed, recordings, tracks, workers, progress) if preset.media else {}
    if features_dim:
        for rec in recordings:
            for video, track in zip(rec.videos, tracks[rec.stem], strict=True):
                features.write_features(out, rec.split, video, track, features_dim, seed)
    write_text(out / "data.toml", DATA_TOML)
    description = describe(request, preset, recordings, tracks, counts)
    write_text(out / "dataset.json", json.dumps(description, indent=1) + "\n")
    (out / PENDING).unlink()
    return _summary(out, description, started, cached=False)


def _is_complete(out: Path, request: dict) -> bool:
    """Whether `out` already holds a finished dataset made with exactly these settings."""
    return not (out / PENDING).exists() and _previous_request(out) == json.loads(json.dumps(request))


def _summary(out: Path, description: dict, started: float, cached: bool) -> dict:
    splits = description["splits"]
    return {"out": str(out), "preset": description["preset"], "seed": description["seed"], "cached": cached,
            **{key: {s: splits[s][key] for s in SPLITS} for key in ("videos", "frames", "labelled")},
            "recordings": len(description["recordings"]),
            "crops": sum(v.get("crops", 0) for v in description["videos"].values()),
            "seconds": round(time.perf_counter() - started, 2)}


def _check_workers(workers: int | None) -> int:
    if workers is None:
        return max(min(os.cpu_count() or 1, 8), 1)
    if workers < 1:
        raise AbawError(f"--workers {workers}: use at least 1 worker process")
    return workers


def _previous_request(out: Path) -> dict | None:
    """The settings of the dataset (or interrupted run) in `out`, if any."""
    for name, key in (("dataset.json", "request"), (PENDING, None)):
        try:
            data = json.loads((out / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return data.get(key) if key else data
    return None


def _claim(out: Path, request: dict, force: bool) -> None:
    """Make `out` ours: refuse a non-empty folder holding anything but this very dataset (unless `force`),
    then clear what an earlier run wrote and mark this run as in progress."""
    if out.exists() and not out.is_dir():
        raise AbawError(f"{out}: exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        previous = _previous_request(out)
        if previous != json.loads(json.dumps(request)):
            what = "a dataset with other settings" if previous else "files not written by abaw synth"
            raise AbawError(f"{out}: holds {what}; choose an empty --out folder, or pass --force to replace "
                            "the dataset there")
    for name in OUTPUTS:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / PENDING, json.dumps(request))


def _write_labels(out: Path, recordings: list[Recording], tracks: dict[str, list[Track]]) -> None:
    """Annotation files of every split and the test template (test videos sorted by name)."""
    test_videos, test_lengths = [], []
    for rec in recordings:
        for video, track in zip(rec.videos, tracks[rec.stem], strict=True):
            path = out / "annotations" / SPLIT_DIRS[rec.split] / f"{video}.txt"
            write_annotation(path, track.valence, track.arousal, track.labelled)
            if rec.split == "test":
                test_videos.append(video)
                test_lengths.append(rec.frames)
    order = np.argsort(test_videos)
    with atomic_path(out / "test_template.txt") as tmp:
        tmp.write_bytes(template_text([test_videos[i] for i in order], [test_lengths[i] for i in order]))


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already


def _render(out: Path, seed: int, recordings: list[Recording], tracks: dict[str, list[Track]], workers: int,
            progress: bool) -> dict[str, dict]:
    """Videos, crops and mouth tables, recordings spread over worker processes (longest first)."""
    jobs = [Job(out, seed, rec, tuple(tracks[rec.stem])) for rec in recordings]
    jobs.sort(key=lambda job: -job.recording.frames * (1 + job.recording.persons))
    counts: dict[str, dict] = {}
    with progress_bar(total=len(jobs), desc="synth videos", unit="video", disable=not progress) as bar:
        if workers == 1 or len(jobs) == 1:
            for job in jobs:
                counts.update(render_recording(job))
                bar.update()
            return counts
        # spawn: workers start clean, whatever threads (torch, OpenCV, tqdm) this process runs
        pool = ProcessPoolExecutor(min(workers, len(jobs)), mp_context=get_context("spawn"),
                                   initializer=_init_worker)
        try:
            for future in as_completed([pool.submit(render_recording, job) for job in jobs]):
                counts.update(future.result())
                bar.update()
        except BrokenProcessPool as exc:
            raise AbawError("a worker process died while rendering videos; when generate() is called from a "
                            "script, guard the call with `if __name__ == \"__main__\":`, or pass workers=1"
                            ) from exc
        finally:
            pool.shutdown(cancel_futures=True)
    return counts


def describe(request: dict, preset: Preset, recordings: list[Recording], tracks: dict[str, list[Track]],
             counts: dict[str, dict]) -> dict:
    """The content of dataset.json: the settings, the parameters that link expression and voice to
    valence/arousal, and per-recording and per-video facts (`fps` is the file's, `name_fps` the name's)."""
    videos = {}
    for rec in recordings:
        times = np.arange(rec.frames) / rec.fps
        for person, (video, track) in enumerate(zip(rec.videos, tracks[rec.stem], strict=True)):
            videos[video] = {"split": rec.split, "recording": rec.stem, "person": person,
                             "frames": rec.frames, "fps": rec.fps, "duration": round(rec.duration, 4),
                             "labelled": int(track.labelled.sum()), "face_frames": int(track.face.sum()),
                             **counts.get(video, {})}
            if preset.media:
                videos[video]["speaking_frames"] = int(speaking(track.bursts, times).sum())
                videos[video]["speech_seconds"] = np.round(track.bursts, 3).tolist()  # [start, stop) bursts
    splits = {}
    for split in SPLITS:
        members = [v for v in videos.values() if v["split"] == split]
        splits[split] = {"videos": len(members), "frames": sum(v["frames"] for v in members),
                         "labelled": sum(v["labelled"] for v in members)}
    return {
        "generator": "abaw.synth", "version": GENERATOR_VERSION, "preset": preset.name,
        "seed": request["seed"], "features": request["features"], "media": preset.media, "request": request,
        "layout": {"annotations": "annotations", "test_template": "test_template.txt",
                   "cropped_aligned": "cropped_aligned", "videos": "videos", "openmouth": "openmouth",
                   "features": "features/<split>/<video>.npz", "config": "data.toml"},
        "crop_size": faces.CROP, "sample_rate": voices.SAMPLE_RATE,
        "parameters": {"trajectory": TRAJECTORY, "expression": faces.EXPRESSION, "voice": voices.VOICE,
                       "features": features.FEATURES},
        "splits": splits,
        "recordings": [{"stem": rec.stem, "split": rec.split, "file": rec.file or None, "fps": rec.fps,
                        "name_fps": rec.name_fps, "frames": rec.frames, "duration": round(rec.duration, 4),
                        "width": rec.width, "height": rec.height, "persons": rec.persons,
                        "videos": list(rec.videos)} for rec in recordings],
        "videos": videos,
    }
