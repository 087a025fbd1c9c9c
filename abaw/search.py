"""Hyper-parameter search: grid or random trials over any config keys, each trial a normal training run.

A search space is a TOML file: one `section.key = [values]` per searched key (dotted keys or nested
tables), plus optional `trials = N` for a random search (N distinct combinations drawn with `seed`,
default 0) instead of the full grid (every combination, in the file's key order, last key fastest).

Each trial trains with the base config plus its values as `--set` overrides, so it is an ordinary run
with its own run directory. One row per finished trial is added to `<out>/search.csv` at once (the file
is rewritten atomically); a trial whose values already have a row is skipped, so rerunning a killed search
resumes with the next unfinished trial. The best trial's full config is written to `<out>/best.toml`.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from abaw.atomic import write_text
from abaw.config import config_to_toml, read_toml, toml_value
from abaw.errors import AbawError

log = logging.getLogger("abaw.search")

RESERVED = ("trials", "seed")


@dataclasses.dataclass(frozen=True)
class Space:
    """The searched keys, the values of each, and the number of random trials (0 = the full grid)."""

    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    trials: int = 0
    seed: int = 0
    source: str = ""

    @property
    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.values)


def _leaves(raw: Mapping[str, Any], prefix: str, source: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_leaves(value, f"{name}.", source))
        elif isinstance(value, list) and value:
            out[name] = value
        else:
            example = "1, 2" if isinstance(value, list) else toml_value(value)
            raise AbawError(
                f"{source}: {name} = {value!r}; each searched key needs a non-empty list of "
                f"values, e.g. {name} = [{example}]"
            )
    return out


def read_space(path: str | Path) -> Space:
    """Parse a search-space TOML; problems name the file and the key."""
    raw = read_toml(path)
    source = str(path)
    trials, seed = raw.pop("trials", 0), raw.pop("seed", 0)
    for name, value in (("trials", trials), ("seed", seed)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise AbawError(f"{source}: {name} = {value!r}; it must be an integer >= 0")
    leaves = _leaves(raw, "", source)
    if not leaves:
        raise AbawError(f"{source}: no searched key; write e.g. train.lr = [1e-4, 3e-4]")
    return Space(tuple(leaves), tuple(tuple(v) for v in leaves.values()), trials, seed, source)


def plan(space: Space) -> list[dict[str, Any]]:
    """The trials in the order they run: every combination, or `trials` distinct random ones."""
    if not space.trials:
        return [dict(zip(space.keys, combo, strict=True)) for combo in itertools.product(*space.values)]
    rng = np.random.default_rng(space.seed)
    picks = rng.choice(space.grid_size, size=min(space.trials, space.grid_size), replace=False)
    sizes = [len(v) for v in space.values]
    trials = []
    for pick in picks.tolist():
        digits = []
        for size in reversed(sizes):  # mixed-radix decoding, last key fastest as in the grid
            pick, digit = divmod(pick, size)
            digits.append(digit)
        trials.append({k: v[d] for k, v, d in zip(space.keys, space.values, reversed(digits), strict=True)})
    return trials


def overrides(params: Mapping[str, Any]) -> list[str]:
    """The `--set` strings of one trial."""
    return [f"{key}={toml_value(value)}" for key, value in params.items()]


def trial_id(params: Mapping[str, Any]) -> str:
    """A trial's identity in `search.csv`: its overrides, in key order."""
    return " ".join(overrides(params))


def read_results(path: Path, keys: Sequence[str]) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame()
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [k for k in ("params", *keys) if k not in frame.columns]
    if missing:
        raise AbawError(
            f"{path}: written for another search (no column {', '.join(missing)}); "
            "give this search its own --out folder"
        )
    return frame


def run_search(
    space: Space,
    out: Path,
    train: Callable[[list[str]], Mapping[str, Any]],
    load: Callable[[list[str]], Any],
    metric: str,
    mode: str = "max",
    columns: Sequence[str] = (),
) -> dict[str, Any]:
    """Run every unfinished trial of `space`, then write and return the best one.

    `load(overrides)` builds a trial's config (checked for every trial before anything runs, so a misspelt
    key fails at once); `train(overrides)` runs one trial and returns its summary, from which `metric` and
    `columns` are recorded. A trial that fails with a user error gets a row with the error and no score.
    """
    trials = plan(space)
    for params in trials:
        load(overrides(params))
    csv = out / "search.csv"
    results = read_results(csv, space.keys)
    done = set(results["params"]) if len(results) else set()
    todo = [(i, p) for i, p in enumerate(trials) if trial_id(p) not in done]
    log.info(
        "search %s: %d trials, %d already in %s, %d to run",
        space.source,
        len(trials),
        len(trials) - len(todo),
        csv,
        len(todo),
    )
    for i, params in todo:
        log.info("trial %d/%d: %s", i + 1, len(trials), trial_id(params))
        started = time.time()
        row: dict[str, Any] = {"trial": i + 1, "params": trial_id(params), **params}
        try:
            summary = train(overrides(params))
            row.update({metric: summary.get(metric), **{c: summary.get(c) for c in columns}, "error": ""})
        except AbawError as exc:
            log.warning("trial %d failed: %s", i + 1, exc)
            row.update({metric: None, **{c: None for c in columns}, "error": str(exc)})
        row["time_s"] = round(time.time() - started, 1)
        results = pd.concat([results, pd.DataFrame([row])], ignore_index=True)
        write_text(csv, results.to_csv(index=False))
    return write_best(out, results, trials, load, metric, mode)


def write_best(
    out: Path,
    results: pd.DataFrame,
    trials: list[dict[str, Any]],
    load: Callable[[list[str]], Any],
    metric: str,
    mode: str,
) -> dict[str, Any]:
    """Pick the best row among this space's trials and write its full config to `<out>/best.toml`."""
    planned = {trial_id(p): p for p in trials}
    scores = pd.to_numeric(results[metric], errors="coerce") if len(results) else pd.Series(dtype=float)
    scores = scores.where(results["params"].isin(planned)) if len(results) else scores
    if not np.isfinite(scores).any():
        raise AbawError(f"{out / 'search.csv'}: no trial produced a finite {metric}; see the error column")
    best = int(scores.idxmax() if mode == "max" else scores.idxmin())
    row = results.loc[best]
    # The values come from the plan, not from the CSV, so they keep their TOML types exactly.
    params = planned[row["params"]]
    path = write_text(out / "best.toml", config_to_toml(load(overrides(params))))
    return {
        "csv": str(out / "search.csv"),
        "trials": len(results),
        "best_trial": int(row["trial"]),
        "best_params": params,
        f"best_{metric}": float(scores[best]),
        "best_config": str(path),
    }
