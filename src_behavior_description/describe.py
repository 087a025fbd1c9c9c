"""`describe`: every clip of every split -> a description and pooled vectors, resumable and shardable.

Work is done per video file: the streams `X`, `X_left`, `X_right` share one video and so one set of
clips, described once. Clips are decoded in DataLoader workers and described in batches that may span
videos; as soon as a video's last clip is described its results are written atomically to
`<out>/<split>/parts/<video>.npz` and recorded in the manifest, so a killed run loses at most the videos
in progress. When every video of the shard is finished, the split table `<out>/<split>.npz` (a
`segments` table with one `embedding/<vector>` column per pooled vector) and `<out>/<split>.texts.jsonl`
are written; with `--shard I/N` they are `<split>-IofN.*`, joined by `abaw merge`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from abaw.affwild import find_video_file
from abaw.atomic import save_npz, write_text
from abaw.config import to_dict
from abaw.errors import AbawError
from abaw.manifest import Manifest, Shard, files_fingerprint, identity_fingerprint, manifest_path, shard_items
from abaw.npzfile import load_npz
from abaw.tables import make_meta, segments_table, write_table
from src_behavior_description.config import BehaviourConfig, descriptions_dir
from src_behavior_description.describer import Describer, Description
from src_behavior_description.sampling import ClipJob, SampledClip, clip_jobs, clip_loader
from src_behavior_description.segments import PRODUCER, SplitPlan, plan_split

log = logging.getLogger("abaw.behaviour")


def identity_of(cfg: BehaviourConfig, describer: Describer) -> dict:
    """Everything besides the video that changes a clip's outputs: model, instruction, sampling, dtype."""
    sampling = {k: v for k, v in to_dict(cfg.sampling).items() if k != "workers"}  # workers change no output
    return {"describer": describer.identity, "sampling": sampling,
            "embedding_dtype": cfg.describe.embedding_dtype}


def shard_suffix(shard: Shard) -> str:
    return "" if shard[1] == 1 else f"-{shard[0]}of{shard[1]}"


def table_paths(out: Path, split: str, shard: Shard) -> tuple[Path, Path]:
    stem = f"{split}{shard_suffix(shard)}"
    return out / f"{stem}.npz", out / f"{stem}.texts.jsonl"


@dataclass
class VideoWork:
    """One video file's clips (shared by its streams) and what has come back for them."""

    base: str
    path: Path
    fps: float
    inputs: str  # fingerprint of the file and its clip plan
    start: np.ndarray
    stop: np.ndarray
    results: dict[int, Description | None] = field(default_factory=dict)  # clip -> result, None = failed

    @property
    def n_clips(self) -> int:
        return len(self.start)

    @property
    def complete(self) -> bool:
        return len(self.results) == self.n_clips


def part_path(out: Path, split: str, base: str) -> Path:
    return out / split / "parts" / f"{base}.npz"


def vector_widths(describer: Describer) -> dict[str, int]:
    """Size of each pooled vector: the model width, or the sentence encoder's for `sent`."""
    encoder = describer.text_encoder
    return {name: int(encoder.config.hidden_size) if name == "sent" else describer.width
            for name in describer.vector_names}


def write_part(path: Path, work: VideoWork, widths: dict[str, int], dtype: str) -> None:
    """A finished video's results; a clip that failed has NaN vectors, an empty text and described=False."""
    results = [work.results[k] for k in range(work.n_clips)]
    arrays = {"start": work.start.astype(np.int32), "stop": work.stop.astype(np.int32),
              "described": np.array([r is not None for r in results], bool),
              "text": np.array([r.text if r else "" for r in results], dtype=np.str_),
              "video_tokens": np.array([r.video_tokens if r else 0 for r in results], np.int32),
              "generated_tokens": np.array([r.generated_tokens if r else 0 for r in results], np.int32)}
    for name, width in widths.items():
        missing = np.full(width, np.nan, np.float32)
        rows = np.stack([r.vectors[name] if r else missing for r in results])
        arrays[f"embedding/{name}"] = rows.astype(dtype)
    save_npz(path, arrays)


def check_identity(manifest: Manifest, identity: dict, folder: Path) -> None:
    """Refuse a folder holding videos described by another model, instruction or sampling."""
    foreign = [e for e in manifest.entries.values() if e.identity != manifest.identity]
    if not foreign:
        return
    theirs = foreign[0].info.get("identity", {})
    changed = sorted(key for key in set(identity) | set(theirs) if identity.get(key) != theirs.get(key))
    if "describer" in changed:
        mine, other = identity["describer"], theirs.get("describer", {})
        changed = [f"describer.{k}" for k in sorted(set(mine) | set(other)) if mine.get(k) != other.get(k)] \
            + [c for c in changed if c != "describer"]
    raise AbawError(f"{folder}: {len(foreign)} videos here were described with another "
                    f"{', '.join(changed) or 'configuration'} (e.g. {foreign[0].item}); set describe.out to "
                    "a new folder, or delete this one to describe everything again")


class ErrorLog:
    """`errors.jsonl` (per shard): one line per clip that could not be described."""

    def __init__(self, folder: Path, shard: Shard) -> None:
        self.path = manifest_path(folder, shard, "errors")
        self.count = 0

    def add(self, split: str, video: str, clip: int, start: int, stop: int, error: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"split": split, "video": video, "clip": clip, "start": start, "stop": stop,
                                 "error": error}) + "\n")
        self.count += 1


@dataclass
class SplitWork:
    """A split's plan and the videos of one shard: everything `describe` checks before loading a model."""

    plan: SplitPlan
    shard: Shard
    videos: list[VideoWork]

    @property
    def split(self) -> str:
        return self.plan.split


def prepare_split(cfg: BehaviourConfig, split: str, shard: Shard = (0, 1)) -> SplitWork:
    """Plan `split` and find the video of every base video of `shard` (errors come before any model load)."""
    sp = plan_split(cfg.data, cfg.clips, split)
    return SplitWork(sp, shard, video_works(cfg, sp, shard_items(sorted(set(sp.bases.tolist())), shard)))


def video_works(cfg: BehaviourConfig, sp: SplitPlan, bases: Sequence[str]) -> list[VideoWork]:
    """The clips of each base video (from its first stream: every stream of a video has the same plan)."""
    first = {}
    for i, base in enumerate(sp.bases):
        first.setdefault(str(base), i)
    missing = [b for b in bases if find_video_file(cfg.data.videos, b) is None]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise AbawError(f"no video file for {shown} under data.videos = {cfg.data.videos}; describe reads "
                        "the clips from the videos")
    works = []
    for base in bases:
        i = first[base]
        rows = slice(int(sp.plan.offsets[i]), int(sp.plan.offsets[i + 1]))
        path = find_video_file(cfg.data.videos, base)
        start, stop = sp.plan.start[rows], sp.plan.stop[rows]
        inputs = identity_fingerprint({"file": files_fingerprint([path]), "start": start.tolist(),
                                       "stop": stop.tolist(), "fps": float(sp.fps[i])})
        works.append(VideoWork(base, path, float(sp.fps[i]), inputs, start, stop))
    return works


def batches(loader, size: int) -> Iterator[list[SampledClip]]:
    batch: list[SampledClip] = []
    for item in loader:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def describe_videos(cfg: BehaviourConfig, describer: Describer, split: str, works: list[VideoWork],
                    on_done, errors: ErrorLog, fail_fast: bool) -> None:
    """Describe every clip of `works`, calling `on_done(work)` as each video completes, in order."""
    jobs: list[ClipJob] = []
    owner: list[tuple[int, int]] = []  # job key -> (work index, clip index)
    for w, work in enumerate(works):
        jobs += clip_jobs(work.path, work.start, work.stop, work.fps, cfg.sampling, first_key=len(jobs))
        owner += [(w, k) for k in range(work.n_clips)]
    done = 0
    with tqdm(total=len(jobs), desc=f"describe {split}", unit="clip") as bar:
        for batch in batches(clip_loader(jobs, cfg.sampling), cfg.describer.batch_size):
            good = [item for item in batch if item.clip is not None]
            results = describer.describe([item.clip for item in good]) if good else []
            for item, result in zip(good, results, strict=True):
                w, k = owner[item.key]
                works[w].results[k] = result
            for item in batch:
                if item.clip is None:
                    w, k = owner[item.key]
                    work = works[w]
                    errors.add(split, work.base, k, int(work.start[k]), int(work.stop[k]), item.error)
                    if fail_fast:
                        raise AbawError(f"{work.path}: clip {k} [{int(work.start[k])}, {int(work.stop[k])}): "
                                        f"{item.error} (--fail-fast; finished videos are kept)")
                    log.warning("%s: clip %d: %s (recorded in %s)", work.path, k, item.error, errors.path)
                    work.results[k] = None
            bar.update(len(batch))
            while done < len(works) and works[done].complete:
                on_done(works[done])
                done += 1


def describe_split(cfg: BehaviourConfig, describer: Describer, work: SplitWork,
                   fail_fast: bool = False) -> dict:
    """Describe the videos of a prepared split shard that are not finished yet, then write its table."""
    out, split, shard, sp, works = descriptions_dir(cfg), work.split, work.shard, work.plan, work.videos
    identity = identity_of(cfg, describer)
    folder = out / split
    manifest = Manifest(folder, identity_fingerprint(identity), shard)
    check_identity(manifest, identity, folder)
    bases = [w.base for w in works]
    todo = [w for w in works
            if not manifest.is_done(w.base, w.inputs, [part_path(out, split, w.base)])]
    errors = ErrorLog(folder, shard)
    widths, names = vector_widths(describer), describer.vector_names

    def finish(work: VideoWork) -> None:
        write_part(part_path(out, split, work.base), work, widths, cfg.describe.embedding_dtype)
        failed = sum(r is None for r in work.results.values())
        manifest.record(work.base, work.inputs, clips=work.n_clips, failed=failed, identity=identity)

    if todo:
        log.info("%s: %d of %d videos to describe (%d clips)", split, len(todo), len(works),
                 sum(w.n_clips for w in todo))
        describe_videos(cfg, describer, split, todo, finish, errors, fail_fast)
    table, texts = assemble(cfg, sp, set(bases), out, split, shard, identity, names)
    failed = sum(int(manifest.entries[b].info.get("failed", 0)) for b in bases)
    return {"videos": len(works), "described": len(todo), "reused": len(works) - len(todo),
            "streams": int(np.isin(sp.bases, bases).sum()), "failed_clips": failed,
            "table": str(table), "texts": str(texts)}


def assemble(cfg: BehaviourConfig, sp: SplitPlan, bases: set[str], out: Path, split: str, shard: Shard,
             identity: dict, names: Sequence[str]) -> tuple[Path, Path]:
    """The shard's `segments` table and texts sidecar from the finished parts of its videos."""
    keep = np.flatnonzero(np.isin(sp.bases, list(bases)))
    plan = sp.plan
    rerun = "delete it and rerun describe"
    parts = {b: load_npz(part_path(out, split, b), rerun) for b in bases}
    columns: dict[str, list[np.ndarray]] = {}
    lines, label, start, stop, counts = [], [], [], [], []
    for i in keep:
        stream, part = str(plan.videos[i]), parts[str(sp.bases[i])]
        rows = slice(int(plan.offsets[i]), int(plan.offsets[i + 1]))
        if not (np.array_equal(part["start"], plan.start[rows])
                and np.array_equal(part["stop"], plan.stop[rows])):
            raise AbawError(f"{part_path(out, split, str(sp.bases[i]))}: its clips differ from the plan of "
                            f"{stream}; delete the file and rerun describe")
        for name in ["described", "video_tokens", "generated_tokens", *(f"embedding/{n}" for n in names)]:
            columns.setdefault(name, []).append(part[name])
        start.append(plan.start[rows])
        stop.append(plan.stop[rows])
        label.append(sp.labels[rows])
        counts.append(rows.stop - rows.start)
        lines += [json.dumps({"video": stream, "start": int(a), "stop": int(b), "description": str(t),
                              "video_tokens": int(v), "generated_tokens": int(g)})
                  for a, b, t, v, g in zip(part["start"], part["stop"], part["text"], part["video_tokens"],
                                           part["generated_tokens"], strict=True)]
    offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    joined = {name: np.concatenate(arrays) if arrays else np.zeros(0) for name, arrays in columns.items()}
    width = 0 if not keep.size else joined[f"embedding/{names[0]}"].shape[1]
    embeddings = {n: joined.get(f"embedding/{n}", np.zeros((0, width), cfg.describe.embedding_dtype))
                  for n in names}
    meta = make_meta("segments", split, "behaviour", PRODUCER, identity_fingerprint(identity),
                     vectors=list(names), width=width, identity=identity, clips=to_dict(cfg.clips),
                     shard=list(shard))
    table = segments_table(plan.videos[keep], offsets,
                           start=np.concatenate(start) if start else np.zeros(0, np.int32),
                           stop=np.concatenate(stop) if stop else np.zeros(0, np.int32),
                           label=np.concatenate(label) if label else np.zeros((0, 2), np.float32),
                           embeddings=embeddings, meta=meta,
                           described=joined.get("described", np.zeros(0, bool)),
                           video_tokens=joined.get("video_tokens", np.zeros(0, np.int32)),
                           generated_tokens=joined.get("generated_tokens", np.zeros(0, np.int32)))
    npz, texts = table_paths(out, split, shard)
    write_table(npz, table)
    write_text(texts, "".join(line + "\n" for line in lines))
    return npz, texts
