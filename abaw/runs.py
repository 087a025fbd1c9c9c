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
import torch
from tqdm import tqdm

from abaw.atomic import write_text
from abaw.config import config_to_toml
from abaw.distributed import broadcast_object, init_distributed, is_main, rank
from abaw.errors import AbawError

log = logging.getLogger("abaw")

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


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
