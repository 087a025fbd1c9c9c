"""Run directories, logging and seeding: one folder per training run holds everything that run produced.

Layout: `<output_root>/<stage>/<name>-<YYYYmmdd-HHMMSS>-<4 hex>/` with `config.toml`, `log.txt`,
`metrics.csv`, `curves.png`, `report.md` and `checkpoints/{best,last}.pt`. Under torchrun only rank 0
creates and writes it; the other ranks get the same path and log warnings to the console only.

Stages log through `logging.getLogger("abaw.<stage>")` (or `abaw.runs.log`) so their messages reach
both the console and `log.txt`.
"""

from __future__ import annotations

import logging
import random
import re
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from abaw.atomic import write_text
from abaw.config import config_to_toml, read_toml
from abaw.distributed import broadcast_object, init_distributed, is_main, rank
from abaw.errors import AbawError

log = logging.getLogger("abaw")

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
RUN_FOLDER = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}")  # what new_run_dir adds after `<name>-`


@dataclass(frozen=True)
class Run:
    """A run directory and the fixed names of what goes in it."""

    dir: Path

    @property
    def config_path(self) -> Path:
        return self.dir / "config.toml"

    @property
    def log_path(self) -> Path:
        return self.dir / "log.txt"

    @property
    def metrics_path(self) -> Path:
        return self.dir / "metrics.csv"

    @property
    def curves_path(self) -> Path:
        return self.dir / "curves.png"

    @property
    def report_path(self) -> Path:
        return self.dir / "report.md"

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / "best.pt"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.pt"


def create_run(output_root: str | Path, stage: str, name: str, config: Any) -> Run:
    """Create a fresh run directory, save the resolved `config` (a config dataclass) and start logging.

    Joins the process group first when launched by torchrun, so every rank gets rank 0's directory.
    """
    for label, value in (("stage", stage), ("run name", name)):
        if not NAME_PATTERN.fullmatch(value):
            raise AbawError(f"{label} {value!r}: use only letters, digits, '.', '_' and '-'")
    init_distributed()
    path = None
    if is_main():
        path = new_run_dir(Path(output_root).resolve() / stage, name)
        write_text(path / "config.toml", config_to_toml(config))
    run = Run(broadcast_object(path))
    setup_logging(run.log_path if is_main() else None)
    log.info("run directory: %s", run.dir)
    return run


def open_run(run_dir: str | Path) -> Run:
    """Reopen an existing run directory (to resume it); logging appends to its `log.txt`."""
    path = Path(run_dir).resolve()
    if not (path / "config.toml").is_file():
        raise AbawError(f"{path}: not a run directory (no config.toml); pass a folder a training run created")
    init_distributed()
    run = Run(path)
    setup_logging(run.log_path if is_main() else None)
    log.info("reopened run directory: %s", run.dir)
    return run


def new_run_dir(parent: Path, name: str) -> Path:
    """Make `<parent>/<name>-<YYYYmmdd-HHMMSS>-<4 hex>/`; the random suffix keeps simultaneous runs apart."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    while True:
        path = parent / f"{name}-{stamp}-{secrets.token_hex(2)}"
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise AbawError(f"{path}: cannot create the run directory ({exc}); set data.output_root to a "
                            "writable folder") from exc


class _TqdmHandler(logging.Handler):
    """Console handler that prints above an active tqdm bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def setup_logging(log_file: Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send the `abaw` loggers to the console and, when given, to `log_file` (appending).

    Replaces the handlers of an earlier call. Ranks other than 0 only print warnings, tagged with their rank.
    """
    logger = logging.getLogger("abaw")
    for handler in [h for h in logger.handlers if getattr(h, "abaw_run", False)]:
        logger.removeHandler(handler)
        handler.close()
    console = _TqdmHandler(level if is_main() else logging.WARNING)
    prefix = "" if is_main() else f"[rank {rank()}] "
    console.setFormatter(logging.Formatter(f"%(asctime)s {prefix}%(message)s", "%H:%M:%S"))
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        file_handler.setLevel(level)
        handlers.append(file_handler)
    for handler in handlers:
        handler.abaw_run = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)
    # Handlers live here; passing records on to the root logger would print them twice.
    logger.propagate = False
    return logger


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the global generator that libraries still use)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class TrainedRun:
    """A run directory as export/predict see it: its best checkpoint and the score that chose it.

    `complete` runs finished training (their `report.md` is written last); `best_score` is the best
    value of the run's `train.monitor` in `metrics.csv` (None when nothing was recorded).
    """

    dir: Path
    monitor: str
    mode: str
    best_score: float | None
    best_epoch: int | None
    complete: bool

    @property
    def checkpoint(self) -> Path:
        return Run(self.dir).best_checkpoint

    def describe(self) -> str:
        if self.best_score is None:
            return f"{self.dir} (no validation score recorded)"
        return f"{self.dir} (best validation {self.monitor} {self.best_score:.4f} at epoch {self.best_epoch})"


def read_trained_run(path: Path) -> TrainedRun:
    """What a run directory says about itself; unreadable parts only make it count as incomplete."""
    from abaw.report import read_metrics  # pandas; only export/predict need it

    monitor, mode = "score", "max"
    try:
        train = read_toml(path / "config.toml").get("train", {})
        monitor, mode = str(train.get("monitor", monitor)), str(train.get("mode", mode))
        metrics = read_metrics(path / "metrics.csv")
    except (AbawError, ValueError, OSError):
        return TrainedRun(path, monitor, mode, None, None, False)
    column = f"val_{monitor}"
    values = pd.to_numeric(metrics[column], errors="coerce") if column in metrics else pd.Series(dtype=float)
    score = epoch = None
    if values.notna().any():
        row = values.idxmax() if mode == "max" else values.idxmin()
        score = float(values[row])
        epoch = int(metrics["epoch"][row]) if "epoch" in metrics else None
    complete = (path / "report.md").is_file() and Run(path).best_checkpoint.is_file()
    return TrainedRun(path, monitor, mode, score, epoch, complete)


def trained_runs(output_root: str | Path, stage: str, name: str) -> list[TrainedRun]:
    """Every run of `name` under `<output_root>/<stage>`, oldest first (folder names hold the start time)."""
    parent = Path(output_root) / stage
    folders = sorted(p for p in parent.glob(f"{name}-*") if RUN_FOLDER.fullmatch(p.name[len(name) + 1:]))
    return [read_trained_run(p) for p in folders if p.is_dir()]


def choose_run(output_root: str | Path, stage: str, name: str, best: bool = False) -> TrainedRun:
    """The newest complete run of `name`, or with `best` the complete run with the best score."""
    runs = trained_runs(output_root, stage, name)
    complete = [r for r in runs if r.complete]
    if not complete:
        unfinished = f" ({len(runs)} unfinished: resume one with `train --resume RUN_DIR`)" if runs else ""
        raise AbawError(f"{Path(output_root) / stage}: no complete trained run named {name!r}{unfinished}; "
                        "run `train` first, or pass --checkpoint FILE_OR_RUN_DIR")
    if not best:
        return complete[-1]
    scored = [r for r in complete if r.best_score is not None]
    if not scored:
        raise AbawError(f"{Path(output_root) / stage}: no run named {name!r} recorded a validation score; "
                        "pass --checkpoint FILE_OR_RUN_DIR")
    sign = 1.0 if scored[-1].mode == "max" else -1.0
    return max(reversed(scored), key=lambda r: sign * r.best_score)


BEST = "best"  # --checkpoint best: the best-scoring complete run of train.name


def resolve_checkpoint(output_root: str | Path, stage: str, name: str, given: Path | None
                       ) -> tuple[Path, str]:
    """(checkpoint, which run it is, in words) for a stage's `--checkpoint`: a checkpoint file, a run
    directory (its best.pt), `best`, or by default the newest complete run named `name`."""
    if given is not None and str(given) != BEST:
        path = given / "checkpoints" / "best.pt" if given.is_dir() else given
        if not path.is_file():
            raise AbawError(f"{given}: no checkpoint there; pass a .pt file, a run directory of train, "
                            f"or {BEST!r}")
        return path, f"checkpoint {path}"
    best = given is not None
    run = choose_run(output_root, stage, name, best=best)
    which = "best-scoring" if best else "newest complete"
    return run.checkpoint, f"the {which} run of train.name {name!r}: {run.describe()}"
