"""`abaw blend`: late fusion of prediction sources, with weights fitted on some frames and scored on others.

A source is one model's frame predictions for several splits: `frames` tables, flat
`image_location,valence,arousal` files or folders of per-video `<video>.txt` files. Every source is aligned
onto the annotation frames (train, val) and the template rows (test) by video and frame; a frame a source
does not predict is an error. The fused prediction of a channel is a convex combination of the sources'
predictions (weights >= 0 summing to 1, one set per channel), optionally smoothed.

Honest scores: the weights (and smoothing kernels) are fitted on one set of frames and scored on another.
`--fit train --eval val` fits on train and scores on val. When the two splits are the same (the default,
val), its videos are shuffled with `--seed` and halved: the weights are fitted on one half and scored on the
other; the outputs then use weights refitted on the whole split. Every subset of the sources is fitted and
scored (`leaderboard.csv`); the outputs use the subset with the best fit score, never the eval score, which
would make the reported eval score optimistic.

Fitting is exhaustive over a grid for two sources and, for three or more, Dirichlet samples refined by a
local pattern search on the simplex. The CCC of any weighting follows from the sources' means and
covariances with each other and with the labels, so each candidate costs O(sources^2), whatever the
number of frames; only smoothing needs the fused series itself.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from abaw.affwild import SplitIndex, Template, index_split, read_template
from abaw.atomic import write_text
from abaw.config import DataConfig, load_section
from abaw.errors import AbawError
from abaw.evaluate import Predictions, align_predictions, read_predictions
from abaw.grouped import positions_in
from abaw.metrics import VA_CHANNELS, va_score
from abaw.progress import progress
from abaw.smoothing import fit_smoothing, smooth
from abaw.tables import frames_table, make_meta, write_table

LABELLED = ("train", "val")
SPLITS = ("train", "val", "test")
LEADERBOARD = "leaderboard.csv"
SUMMARY = "blend.json"
SUBMISSION = "submission.txt"
PRODUCER = "abaw.blend"
_SHOWN = 3  # videos or frames quoted in one message


# ---------------------------------------------------------------------------------------------------- sources


@dataclass
class Source:
    """One prediction source: its name and, per split, the file or folder holding that split."""

    name: str
    paths: dict[str, Path]


def _split_candidates(folder: Path, split: str) -> list[Path]:
    """Where a source folder may hold a split, in the order they are tried."""
    found = [folder / f"{split}.npz", folder / "frames" / f"{split}.npz", folder / "predictions" / split,
             folder / split, folder / f"{split}.csv"]
    return found + ([folder / SUBMISSION] if split == "test" else [])


def parse_sources(specs: list[str]) -> list[Source]:
    """`NAME=FOLDER`, `NAME:SPLIT=PATH` or `FOLDER` specs -> sources in order of first mention."""
    sources: dict[str, Source] = {}
    for spec in specs:
        key, sep, path_text = spec.rpartition("=")
        path = Path(path_text if sep else spec)
        name, _, split = (key if sep else path.name).partition(":")
        if not name or (split and split not in SPLITS):
            raise AbawError(f"--source {spec!r}: expected NAME=FOLDER or NAME:SPLIT=PATH with SPLIT one of "
                            f"{', '.join(SPLITS)}")
        source = sources.setdefault(name, Source(name, {}))
        if split:
            if split in source.paths:
                raise AbawError(f"--source {spec!r}: source {name!r} already has a {split} path "
                                f"({source.paths[split]}); give each split once")
            source.paths[split] = path
        elif path.is_dir():
            for candidate_split in SPLITS:
                candidate = next((p for p in _split_candidates(path, candidate_split) if p.exists()), None)
                if candidate is not None:
                    source.paths.setdefault(candidate_split, candidate)
        elif path.suffix == ".npz" and path.is_file():
            split = _table_meta(path).get("split")
            if split not in SPLITS:
                raise AbawError(f"--source {spec!r}: {path} names no split in its meta ({split!r}); "
                                f"give {name}:SPLIT={path}")
            source.paths.setdefault(split, path)
        elif not path.exists():
            raise AbawError(f"--source {spec!r}: {path} not found")
        else:
            raise AbawError(f"--source {spec!r}: {path} is not a folder; give a folder holding <split>.npz "
                            "tables (or predictions/<split>/ TXT folders), or NAME:SPLIT=FILE for one split")
    return list(sources.values())


def _table_meta(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:
            return json.loads(str(data["meta"])) if "meta" in data.files else {}
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise AbawError(f"{path}: not a readable frames table ({exc})") from exc


def _read_table_predictions(path: Path, split: str, source: str) -> Predictions:
    """The frame and prediction columns of a `frames` table, leaving its embeddings on disk."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"videos", "offsets", "meta", "frame", "prediction"} - set(data.files)
            if missing:
                raise AbawError(f"source {source!r}: {path} lacks {', '.join(sorted(missing))}; "
                                "it is not a frames table (abaw.tables.write_table writes them)")
            meta = json.loads(str(data["meta"]))
            videos, offsets = data["videos"], data["offsets"].astype(np.int64)
            frames, values = data["frame"], data["prediction"]
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise AbawError(f"source {source!r}: {path} is not a readable frames table ({exc})") from exc
    if meta.get("kind") != "frames":
        raise AbawError(f"source {source!r}: {path} is a {meta.get('kind')!r} table; "
                        "blend reads frames tables")
    if meta.get("split") != split:
        raise AbawError(f"source {source!r}: {path} is a frames table of split {meta.get('split')!r}, given "
                        f"for {split}; give that source's {split} table")
    n = len(frames)
    if (offsets.shape != (len(videos) + 1,) or offsets[0] != 0 or offsets[-1] != n
            or (np.diff(offsets) < 0).any() or values.shape != (n, 2)):
        raise AbawError(f"source {source!r}: {path}: offsets, frame and prediction columns disagree; "
                        "check it with abaw.tables.read_table")
    video_idx = np.repeat(np.arange(len(videos), dtype=np.int64), np.diff(offsets))
    return Predictions("frames table", videos, video_idx, frames, values)


def read_source(source: Source, split: str) -> Predictions:
    """The predictions of one source for one split; a missing split names where it was looked for."""
    path = source.paths.get(split)
    if path is None:
        raise AbawError(f"source {source.name!r} has no {split} predictions; looked for "
                        f"<folder>/{split}.npz, frames/{split}.npz, predictions/{split}/, {split}/, "
                        f"{split}.csv"
                        f"{', submission.txt' if split == 'test' else ''}; "
                        f"or give {source.name}:{split}=PATH")
    if path.suffix == ".npz" and path.is_file():
        return _read_table_predictions(path, split, source.name)
    try:
        return read_predictions(path)
    except AbawError as exc:
        raise AbawError(f"source {source.name!r} ({split}): {exc}") from None


# ------------------------------------------------------------------------------------------------- alignment


@dataclass
class Reference:
    """The frames every source must predict in one split, grouped by video and sorted by frame."""

    split: str
    index: SplitIndex  # labels are NaN for test
    template_rows: np.ndarray | None = None  # test: the template row of each reference row


def reference(data: DataConfig, split: str, template: Template | None = None) -> Reference:
    """The annotation frames of train/val, or the template rows of test."""
    if split != "test":
        return Reference(split, index_split(data.annotations, split))
    template = template or read_template(data.test_template)
    order = np.lexsort((template.frames, template.video_idx))
    counts = np.bincount(template.video_idx, minlength=len(template.videos))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    labels = np.full((template.n_rows, 2), np.nan, np.float32)
    index = SplitIndex(template.videos, offsets, template.frames[order].astype(np.int32), labels)
    return Reference(split, index, order)


def _video_lengths(preds: Predictions, ref: Reference) -> np.ndarray:
    """int64 [V]: the last frame a source predicts for each reference video (0 for none)."""
    pos = positions_in(ref.index.videos, np.asarray(preds.videos))[np.asarray(preds.video_idx)]
    known = pos >= 0
    lengths = np.zeros(len(ref.index.videos), np.int64)
    np.maximum.at(lengths, pos[known], np.asarray(preds.frames, np.int64)[known])
    return lengths


def align_sources(sources: list[Source], ref: Reference) -> np.ndarray:
    """float32 [S, N, 2]: every source's predictions on the reference rows of one split.

    Errors: two sources whose last frames of a video differ (they were made from different frame counts),
    and a reference frame a source has no finite prediction for.
    """
    aligned = np.empty((len(sources), ref.index.n_frames, 2), np.float32)
    lengths = []
    for s, source in enumerate(sources):
        preds = read_source(source, ref.split)
        lengths.append(_video_lengths(preds, ref))
        differ = np.flatnonzero(lengths[s] != lengths[0])
        if differ.size:
            video = int(differ[0])
            raise AbawError(
                f"sources {sources[0].name!r} and {source.name!r} differ in length for {ref.split} video "
                f"{str(ref.index.videos[video])!r}: {lengths[0][video]} vs {lengths[s][video]} frames "
                f"({differ.size} videos differ); blend predictions made from the same frames")
        try:
            values, _ = align_predictions(ref.index, preds)
        except AbawError as exc:
            raise AbawError(f"source {source.name!r} ({ref.split}): {exc}") from None
        missing = np.flatnonzero(~np.isfinite(values).all(axis=1))
        if missing.size:
            video_of = ref.index.video_of_row()[missing[:_SHOWN]]
            first = ", ".join(f"{ref.index.videos[v]} frame {ref.index.frames[r]}"
                              for v, r in zip(video_of, missing[:_SHOWN], strict=True))
            what = "template" if ref.split == "test" else "annotation"
            raise AbawError(f"source {source.name!r} ({source.paths[ref.split]}) has no prediction for "
                            f"{missing.size} {ref.split} {what} frames (first: {first}); every {what} frame "
                            "needs one (fill gaps from the nearest frame)")
        aligned[s] = values
    return aligned


# ----------------------------------------------------------------------------------------------------- parts


@dataclass
class Part:
    """Whole videos of one split: their rows in the split's arrays and CSR offsets over those rows."""

    videos: np.ndarray
    rows: np.ndarray
    offsets: np.ndarray


def part_of(index: SplitIndex, chosen: np.ndarray) -> Part:
    """The part made of the videos at positions `chosen` (kept in split order)."""
    chosen = np.sort(np.asarray(chosen, np.int64))
    starts, counts = index.offsets[chosen], np.diff(index.offsets)[chosen]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rows = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1], dtype=np.int64)
    return Part(index.videos[chosen], rows, offsets)


def halves(index: SplitIndex, seed: int) -> tuple[Part, Part]:
    """The split's videos shuffled with `seed` and cut in two: (fit half, eval half)."""
    if len(index.videos) < 2:
        raise AbawError(f"fitting and scoring on one split needs two videos to halve; it has "
                        f"{len(index.videos)}; fit on train and score on val (--fit train --eval val)")
    order = np.random.default_rng(seed).permutation(len(index.videos))
    cut = (len(order) + 1) // 2
    return part_of(index, order[:cut]), part_of(index, order[cut:])


# --------------------------------------------------------------------------------------------------- weights


@dataclass
class Moments:
    """Means and population covariances of the sources and the label over one channel's labelled frames."""

    mean: np.ndarray  # [S]
    cross: np.ndarray  # [S, S]
    with_label: np.ndarray  # [S]
    label_mean: float
    label_var: float

    @classmethod
    def of(cls, values: np.ndarray, label: np.ndarray) -> Moments:
        """From values [S, n] and labels [n] (labelled frames only)."""
        x = values.astype(np.float64)
        y = label.astype(np.float64)
        if y.size == 0:
            raise AbawError("no labelled frame to fit the blend on")
        mean, label_mean = x.mean(axis=1), y.mean()
        x = x - mean[:, None]
        y = y - label_mean
        n = y.size
        cross, with_label = np.einsum("sn,tn->st", x, x) / n, np.einsum("sn,n->s", x, y) / n
        return cls(mean, cross, with_label, float(label_mean), float(np.einsum("n,n->", y, y)) / n)

    def subset(self, chosen: list[int]) -> Moments:
        return Moments(self.mean[chosen], self.cross[np.ix_(chosen, chosen)], self.with_label[chosen],
                       self.label_mean, self.label_var)

    def ccc(self, weights: np.ndarray) -> np.ndarray:
        """CCC of the fused prediction for each weight row [K, S]; 0 where the denominator is 0."""
        weights = np.atleast_2d(weights)
        var = np.einsum("ks,st,kt->k", weights, self.cross, weights)
        bias = weights @ self.mean - self.label_mean
        denominator = var + self.label_var + bias**2
        safe = np.where(denominator > 0, denominator, 1.0)
        return np.where(denominator > 0, 2.0 * (weights @ self.with_label) / safe, 0.0)


def grid_weights(step: float) -> np.ndarray:
    """[K, 2]: (w, 1 - w) for w = 0, step, 2 step, ... and 1."""
    count = int(np.floor(1.0 / step + 1e-9))
    first = np.minimum(np.arange(count + 1) * step, 1.0)
    if first[-1] < 1.0:
        first = np.append(first, 1.0)
    return np.stack([first, 1.0 - first], axis=1)


def refine(moments: Moments, start: np.ndarray, step: float = 0.05, tolerance: float = 1e-4) -> np.ndarray:
    """Local pattern search on the simplex from `start`: move weight between pairs of sources while the CCC
    rises, halving the move when none does."""
    n = len(start)
    pairs = np.array([(i, j) for i in range(n) for j in range(n) if i != j])
    weights, best = start.astype(np.float64), moments.ccc(start)[0]
    while step >= tolerance:
        moved = np.minimum(step, weights[pairs[:, 0]])  # never below zero
        candidates = np.repeat(weights[None], len(pairs), axis=0)
        rows = np.arange(len(pairs))
        candidates[rows, pairs[:, 0]] -= moved
        candidates[rows, pairs[:, 1]] += moved
        scores = moments.ccc(candidates)
        k = int(np.argmax(scores))
        if scores[k] > best + 1e-12:
            weights, best = candidates[k], scores[k]
        else:
            step /= 2.0
    return weights


def fit_weights(moments: Moments, step: float, samples: int, rng: np.random.Generator) -> np.ndarray:
    """Simplex weights [S] maximising the CCC of the fused channel."""
    n = len(moments.mean)
    if n == 1:
        return np.ones(1)
    if n == 2:
        candidates = grid_weights(step)
        return candidates[int(np.argmax(moments.ccc(candidates)))]
    candidates = np.concatenate([np.eye(n), np.full((1, n), 1.0 / n), rng.dirichlet(np.ones(n), samples)])
    return refine(moments, candidates[int(np.argmax(moments.ccc(candidates)))])


@dataclass
class Blend:
    """A fitted blend: per channel, weights over a subset of the sources, then a smoothing kernel."""

    subset: tuple[int, ...]  # positions in the source list
    weights: np.ndarray  # [2, len(subset)], each row on the simplex
    methods: tuple[str, ...] = ("none", "none")
    sizes: tuple[int, ...] = (1, 1)

    def predict(self, values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """float32 [n, 2]: the fused predictions of values [S, n, 2] whose videos are CSR `offsets`."""
        fused = np.einsum("cs,snc->nc", self.weights, values[list(self.subset)].astype(np.float64))
        if self.smoothed:
            fused = smooth(fused, offsets, list(self.methods), list(self.sizes))
        return fused.astype(np.float32)

    @property
    def smoothed(self) -> bool:
        return any(m != "none" and s > 1 for m, s in zip(self.methods, self.sizes, strict=True))

    def kernels(self) -> list[str]:
        return ["none" if m == "none" or s == 1 else f"{m} {s}" for m, s in zip(self.methods, self.sizes,
                                                                                 strict=True)]


@dataclass(frozen=True)
class BlendOptions:
    """How weights are fitted and scored; see the module docstring."""

    fit: str = "val"
    eval: str = "val"
    seed: int = 0
    grid_step: float = 0.01  # weight grid for two sources
    samples: int = 2000  # Dirichlet samples for three or more sources
    smooth: bool = False  # also fit a smoothing kernel per channel on the fit frames

    def check(self) -> None:
        for key, split in (("--fit", self.fit), ("--eval", self.eval)):
            if split not in LABELLED:
                raise AbawError(f"{key} {split}: weights are fitted and scored on a labelled split; "
                                f"use {' or '.join(LABELLED)}")
        if not 0.0 < self.grid_step <= 1.0:
            raise AbawError(f"--grid-step {self.grid_step:g}: the weight grid step must be in (0, 1], "
                            "e.g. 0.01")
        if self.samples < 1:
            raise AbawError(f"--samples {self.samples}: give at least 1 Dirichlet sample")


@dataclass
class PartData:
    """The sources' predictions [S, n, 2] and the labels [n, 2] over one part; `offsets` are its videos."""

    values: np.ndarray
    labels: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, index: SplitIndex, part: Part) -> PartData:
        return cls(values[:, part.rows], index.labels[part.rows], part.offsets)

    @cached_property
    def moments(self) -> list[Moments]:
        """Per channel, the moments over the frames labelled for that channel."""
        out = []
        for c in range(len(VA_CHANNELS)):
            labelled = ~np.isnan(self.labels[:, c])
            out.append(Moments.of(self.values[:, labelled, c], self.labels[labelled, c]))
        return out

    def score(self, blend: Blend) -> dict[str, float]:
        """The official score of a blend here: from the moments, or from the series when it smooths."""
        if blend.smoothed:
            return va_score(blend.predict(self.values, self.offsets), self.labels)
        result = {f"ccc_{name}": float(m.subset(list(blend.subset)).ccc(blend.weights[c])[0])
                  for c, (name, m) in enumerate(zip(VA_CHANNELS, self.moments, strict=True))}
        result["score"] = sum(result.values()) / len(VA_CHANNELS)
        return result


def fit_blend(part: PartData, subset: tuple[int, ...], options: BlendOptions) -> Blend:
    """Weights (and, with `options.smooth`, kernels) of one subset fitted on one part."""
    weights = np.stack([fit_weights(m.subset(list(subset)), options.grid_step, options.samples,
                                    np.random.default_rng(options.seed)) for m in part.moments])
    blend = Blend(subset, weights)
    if options.smooth:
        choice = fit_smoothing(blend.predict(part.values, part.offsets), part.labels, part.offsets)
        blend = Blend(subset, weights, tuple(c["method"] for c in choice.values()),
                      tuple(c["size"] for c in choice.values()))
    return blend


def all_subsets(count: int) -> list[tuple[int, ...]]:
    """Every non-empty subset of `count` sources, smallest first."""
    return [s for size in range(1, count + 1) for s in itertools.combinations(range(count), size)]


# -------------------------------------------------------------------------------------------------- protocol


def _row(names: list[str], blend: Blend, fit: dict[str, float], scored: dict[str, float],
         smooth: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"subset": "+".join(names[s] for s in blend.subset), "sources": len(blend.subset)}
    for prefix, scores in (("fit", fit), ("eval", scored)):
        row[f"{prefix}_score"] = scores["score"]
        for channel in VA_CHANNELS:
            row[f"{prefix}_{channel}"] = scores[f"ccc_{channel}"]
    for c, channel in enumerate(VA_CHANNELS):
        weights = dict(zip(blend.subset, blend.weights[c], strict=True))
        for s, name in enumerate(names):
            row[f"w_{channel}:{name}"] = float(weights.get(s, 0.0))
    if smooth:
        for channel, kernel in zip(VA_CHANNELS, blend.kernels(), strict=True):
            row[f"smooth_{channel}"] = kernel
    return row


def _weights(names: list[str], blend: Blend) -> dict[str, dict[str, float]]:
    return {channel: {names[s]: round(float(w), 6)
                      for s, w in zip(blend.subset, blend.weights[c], strict=True)}
            for c, channel in enumerate(VA_CHANNELS)}


def fit_and_eval_parts(fit_index: SplitIndex, eval_index: SplitIndex,
                       options: BlendOptions) -> tuple[Part, Part, str]:
    """(fit part, eval part, the protocol in words): two splits whole, or one split's videos halved."""
    if options.fit == options.eval:
        fit_part, eval_part = halves(fit_index, options.seed)
        words = (f"{options.fit} videos shuffled (seed {options.seed}) and halved: fit on "
                 f"{len(fit_part.videos)}, scored on the other {len(eval_part.videos)}")
        return fit_part, eval_part, words
    whole = part_of(fit_index, np.arange(len(fit_index.videos)))
    return (whole, part_of(eval_index, np.arange(len(eval_index.videos))),
            f"fit on {options.fit}, scored on {options.eval}")


TIE = 1e-4  # fit scores closer than this are one score: far below what separates models on a val half


def leaderboard(on_fit: PartData, on_eval: PartData, names: list[str],
                options: BlendOptions) -> tuple[pd.DataFrame, list[Blend]]:
    """Every subset fitted on `on_fit` and scored on both parts; the `chosen` row has the best fit score,
    so that choosing never looks at the eval frames. Scores within `TIE` of the best count as a tie, won
    by the fewest sources: a subset that only adds a source at a weight near 0 gains a sampling wiggle."""
    rows, blends = [], []
    for subset in progress(all_subsets(len(names)), desc="blend", unit="subset"):
        blend = fit_blend(on_fit, subset, options)
        rows.append(_row(names, blend, on_fit.score(blend), on_eval.score(blend), options.smooth))
        blends.append(blend)
    board = pd.DataFrame(rows)
    fit = board["fit_score"].to_numpy()
    board.insert(2, "chosen", np.arange(len(board)) == int(np.argmax(fit >= fit.max() - TIE)))
    return board, blends


def write_fused(out: Path, ref: Reference, values: np.ndarray, blend: Blend, sources: list[Source]) -> Path:
    """`<out>/<split>.npz`: the fused predictions on every reference frame, with the labels."""
    names = [s.name for s in sources]
    meta = make_meta("frames", ref.split, "blend", PRODUCER,
                     sources={s.name: str(s.paths[ref.split]) for s in sources},
                     weights=_weights(names, blend), smoothing=blend.kernels())
    index = ref.index
    table = frames_table(index.videos, index.offsets, frame=index.frames,
                         prediction=blend.predict(values, index.offsets), label=index.labels, meta=meta)
    return write_table(out / f"{ref.split}.npz", table)


def write_checked_submission(path: Path, template_path: Path, template: Template, ref: Reference,
                             fused: np.ndarray) -> Path:
    """The flat submission of the fused test rows, validated; a problem is an error, never a bad file."""
    from abaw.submission import validate_submission, write_submission

    in_template_order = np.empty_like(fused)
    in_template_order[ref.template_rows] = fused
    write_submission(path, template, in_template_order)
    problems = validate_submission(template_path, path)
    if problems:
        raise AbawError(f"{path}: the written submission is not valid: {'; '.join(problems[:5])}")
    return path


def run_blend(data: DataConfig, sources: list[Source], options: BlendOptions, out: Path) -> dict[str, Any]:
    """Fit, score and write: `leaderboard.csv`, `blend.json`, fused `<split>.npz` tables, `submission.txt`.

    Every input is read and checked before the first file is written. Returns what `blend.json` holds
    plus `board`, the leaderboard as a DataFrame (one row per subset, in subset order).
    """
    options.check()
    if not sources:
        raise AbawError("blend: give at least one --source")
    names = [s.name for s in sources]
    template = read_template(data.test_template)
    splits = list(dict.fromkeys([options.fit, options.eval, "test"]))
    refs = {split: reference(data, split, template) for split in splits}
    values = {split: align_sources(sources, refs[split]) for split in splits}
    fit_index, eval_index = refs[options.fit].index, refs[options.eval].index
    whole_fit = part_of(fit_index, np.arange(len(fit_index.videos)))
    fit_part, eval_part, protocol = fit_and_eval_parts(fit_index, eval_index, options)
    board, blends = leaderboard(PartData.of(values[options.fit], fit_index, fit_part),
                                PartData.of(values[options.eval], eval_index, eval_part), names, options)
    best = int(np.flatnonzero(board["chosen"])[0])
    final = blends[best]
    if options.fit == options.eval:  # fitted on half the split: refit on all of it
        final = fit_blend(PartData.of(values[options.fit], fit_index, whole_fit), final.subset, options)

    tables = {split: str(write_fused(out, refs[split], values[split], final, sources)) for split in splits}
    submission = write_checked_submission(out / SUBMISSION, data.test_template, template, refs["test"],
                                          final.predict(values["test"], refs["test"].index.offsets))
    buffer = io.StringIO()
    board.sort_values("eval_score", ascending=False, kind="stable").to_csv(buffer, index=False,
                                                                          float_format="%.6f")
    board_path = write_text(out / LEADERBOARD, buffer.getvalue())
    chosen = board.iloc[best]
    result: dict[str, Any] = {
        "out": str(out),
        "protocol": protocol,
        "fit_split": options.fit,
        "eval_split": options.eval,
        "seed": options.seed,
        "fit_videos": [str(v) for v in fit_part.videos],
        "eval_videos": [str(v) for v in eval_part.videos],
        "sources": {s.name: {split: str(p) for split, p in s.paths.items()} for s in sources},
        "chosen": str(chosen["subset"]),
        "fit_score": float(chosen["fit_score"]),
        "eval_score": float(chosen["eval_score"]),
        "eval_ccc_valence": float(chosen["eval_valence"]),
        "eval_ccc_arousal": float(chosen["eval_arousal"]),
        "weights": _weights(names, final),
        "smoothing": dict(zip(VA_CHANNELS, final.kernels(), strict=True)),
        "refitted_on": f"all of {options.fit}",
        "leaderboard": str(board_path),
        "tables": tables,
        "submission": str(submission),
    }
    write_text(out / SUMMARY, json.dumps(result, indent=2) + "\n")
    result["board"] = board
    return result


# ------------------------------------------------------------------------------------------------------- CLI


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = load_section(DataConfig, args.config, "data")
    options = BlendOptions(fit=args.fit, eval=args.eval, seed=args.seed, grid_step=args.grid_step,
                           samples=args.samples, smooth=args.smooth == "fit")
    sources = parse_sources(args.source)
    out = args.out or data.output_root / "blend"
    result = run_blend(data, sources, options, out)
    board = result.pop("board")
    shown = board.sort_values("eval_score", ascending=False, kind="stable")
    print(f"protocol: {result['protocol']}")
    print(shown[["subset", "chosen", "fit_score", "eval_score"]].head(10).to_string(index=False,
                                                                                  float_format="%.4f"))
    for channel, weights in result["weights"].items():
        text = ", ".join(f"{name} {w:.3f}" for name, w in weights.items())
        print(f"{channel}: {text}; smoothing {result['smoothing'][channel]}")
    print(f"chosen {result['chosen']} (best fit score): eval score {result['eval_score']:.4f}; outputs use "
          f"weights refitted on {result['refitted_on']}")
    print(f"leaderboard: {result['leaderboard']}")
    print(f"test submission (validated): {result['submission']}")
    return result


def _step(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    from abaw.cli import add_command

    parser = add_command(subparsers, "blend",
                         "late fusion of prediction sources with honestly scored weights", run)
    parser.add_argument("--config", type=Path, required=True, help="a config file with a [data] section")
    parser.add_argument("--source", action="append", required=True, metavar="NAME=PATH",
                        help="a prediction source: NAME=FOLDER (holding <split>.npz, frames/<split>.npz, "
                             "predictions/<split>/, "
                             "<split>/ or <split>.csv, and submission.txt for test) or NAME:SPLIT=PATH; "
                             "repeat for each source")
    parser.add_argument("--fit", choices=LABELLED, default="val", help="split the weights are fitted on "
                        "(default val)")
    parser.add_argument("--eval", choices=LABELLED, default="val", help="split the weights are scored on; "
                        "the same as --fit halves its videos (default val)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the halving and the Dirichlet samples")
    parser.add_argument("--grid-step", type=_step, default=0.01, help="weight grid step for two sources, "
                        "in (0, 1] (default 0.01)")
    parser.add_argument("--samples", type=int, default=2000, help="Dirichlet samples for three or more "
                        "sources (default 2000)")
    parser.add_argument("--smooth", choices=("none", "fit"), default="none",
                        help="fit: also choose a smoothing kernel per channel on the fit frames")
    parser.add_argument("--out", type=Path, help="output folder (default <output_root>/blend)")
