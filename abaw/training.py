"""The one training loop every stage uses.

A stage provides a model, a training dataset and a task: `training_step(model, batch) -> loss` and
`validate(model) -> {metric: value}` (the stage computes its own official metrics). `fit` does the rest:
AdamW, AMP on CUDA, gradient clipping, ReduceLROnPlateau and early stopping on `train.monitor`, an
optional EMA of the weights, `best.pt`/`last.pt`, `metrics.csv`, curves, `report.md` and resuming.

Under torchrun the model is wrapped in DistributedDataParallel and each rank trains on its own share of
the data. Validation runs on rank 0 only, on the plain (unwrapped) model, and its metrics are broadcast
so every rank takes the same scheduler and early-stopping decisions; only rank 0 writes files.

A stage's train command, in short:

    cfg = load_config(FaceConfig, args.config, args.set)      # FaceConfig has `train: TrainConfig`
    init_distributed(cfg.train.device)                        # under torchrun: gloo for a CPU device
    run = create_run(cfg.data.output_root, "visual_dynamic", cfg.name, cfg)   # or open_run(dir) to resume
    seed_everything(cfg.train.seed)                           # reproducible weight init
    model = FaceTransformer(cfg.model)
    summary = fit(model, FaceTask(val_set), train_set, cfg.train, run, kind="face_transformer",
                  arch=cfg.model, collate_fn=pad_windows, resume=args.resume)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from abaw.checkpoint import load_checkpoint, load_weights, save_checkpoint
from abaw.distributed import (
    all_reduce_mean,
    barrier,
    broadcast_object,
    default_device,
    gather_objects,
    init_distributed,
    is_distributed,
    is_main,
    local_rank,
    make_sampler,
    rank,
    world_size,
)
from abaw.errors import AbawError
from abaw.progress import progress
from abaw.report import append_metrics, plot_curves, read_metrics, write_report
from abaw.runs import Run, seed_everything

log = logging.getLogger("abaw.training")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The `[train]` section of every stage config."""

    epochs: int = 30
    lr: float = 1e-4
    weight_decay: float = 0.01
    batch_size: int = 8
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off
    amp: bool = True  # mixed precision: either dtype on CUDA, bfloat16 only on the CPU
    amp_dtype: Literal["float16", "bfloat16"] = "float16"
    plateau_patience: int = 5  # epochs without improvement before the lr is multiplied by plateau_factor
    plateau_factor: float = 0.1
    min_lr: float = 0.0
    early_stop_patience: int = 15  # epochs without improvement before stopping; 0 never stops early
    ema_decay: float = 0.0  # 0 turns the weight EMA off; e.g. 0.998
    monitor: str = "score"  # validation metric that selects the best checkpoint
    mode: Literal["max", "min"] = "max"
    num_workers: int = 0
    seed: int = 0
    log_every: int = 100  # log the running loss every N steps; 0 never
    device: str = "auto"  # "auto" = this rank's GPU if any, else CPU
    find_unused_parameters: bool = False  # DDP: set when some parameters get no gradient in a step

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "lr": self.lr > 0,
            "batch_size": self.batch_size >= 1,
            "grad_clip": self.grad_clip >= 0,
            "plateau_patience": self.plateau_patience >= 0,
            "plateau_factor": 0 < self.plateau_factor < 1,
            "early_stop_patience": self.early_stop_patience >= 0,
            "ema_decay": 0 <= self.ema_decay < 1,
            "num_workers": self.num_workers >= 0,
            "log_every": self.log_every >= 0,
        }
        bad = [f"{key} = {getattr(self, key)!r}" for key, ok in checks.items() if not ok]
        if bad:
            raise AbawError(f"[train] out of range: {', '.join(bad)} (epochs, batch_size >= 1; lr > 0; "
                            "0 < plateau_factor < 1; 0 <= ema_decay < 1; the others >= 0)")


class Task(Protocol):
    """What a stage provides to `fit`; a plain class with these two methods is enough."""

    def training_step(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """The loss of one batch (already on the model's device). Call `model(...)` only: under DDP
        `model` is the DistributedDataParallel wrapper and exposes `forward` alone."""
        ...

    def validate(self, model: nn.Module) -> Mapping[str, float]:
        """Official metrics on the validation set, e.g. {"ccc_valence", "ccc_arousal", "score"}.
        Called in eval mode under `torch.no_grad()`, on rank 0 only, with the EMA weights when enabled;
        the model sits on the training device (`next(model.parameters()).device`)."""
        ...


class EMA:
    """Exponential moving average of a model's trained weights and floating-point buffers.

    The averages are kept in float32 whatever the model's dtype: in bfloat16 an update of
    (1 - decay) * change rounds away and the average would never move. Frozen parameters never change,
    so they are not copied (no second copy of a frozen backbone). A tensor tied under several names
    (an output layer sharing the input embedding's weight) is averaged once, under its first name.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().float().clone() for k, v in averaged_tensors(model).items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for key, value in averaged_tensors(model).items():
            self.shadow[key].lerp_(value.detach().float(), 1.0 - self.decay)

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Run the block with the averages in the model; its own weights come back bit for bit after.

        The model's weights are all copied aside before any is overwritten, so tied tensors cannot
        clobber each other, and the float32 averages are only read, never rounded to the model's dtype.
        """
        tensors = averaged_tensors(model)
        with torch.no_grad():
            saved = {key: value.detach().clone() for key, value in tensors.items()}
            for key, value in tensors.items():
                value.copy_(self.shadow[key])
        try:
            yield
        finally:
            with torch.no_grad():
                for key, value in tensors.items():
                    value.copy_(saved[key])

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for key, avg in self.shadow.items():
            avg.copy_(state["shadow"][key])


def averaged_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors an EMA follows, by state-dict key: each trainable parameter and floating-point buffer
    once (a tied tensor under its first key); frozen parameters are left out."""
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, value in model.state_dict(keep_vars=True).items():
        frozen = isinstance(value, nn.Parameter) and not value.requires_grad
        if id(value) in seen or frozen or not value.is_floating_point():
            continue
        seen.add(id(value))
        tensors[key] = value
    return tensors


@contextlib.contextmanager
def ema_weights(model: nn.Module, ema: EMA | None) -> Iterator[None]:
    """Run the block with the averaged weights in the model (a no-op without EMA)."""
    if ema is None:
        yield
        return
    with ema.applied(model):
        yield


@dataclasses.dataclass
class Progress:
    """Where training stands; saved in `last.pt` so a resumed run picks up exactly here."""

    epoch: int = 0  # completed epochs
    best_score: float | None = None
    best_epoch: int | None = None
    best_metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    bad_epochs: int = 0  # epochs since the last improvement

    def record(self, epoch: int, metrics: dict[str, float], cfg: TrainConfig) -> bool:
        """Count a finished epoch; True when its monitored metric is the best so far (NaN never is)."""
        value = metrics[cfg.monitor]
        improved = not math.isnan(value) and (
            self.best_score is None
            or (value > self.best_score if cfg.mode == "max" else value < self.best_score))
        if improved:
            self.best_score, self.best_epoch, self.best_metrics, self.bad_epochs = value, epoch, metrics, 0
        else:
            self.bad_epochs += 1
        self.epoch = epoch
        return improved

    def stopped(self, cfg: TrainConfig) -> bool:
        return cfg.early_stop_patience > 0 and self.bad_epochs >= cfg.early_stop_patience


def autocast_dtype(amp: bool, amp_dtype: str, device: torch.device) -> torch.dtype | None:
    """The dtype `train.amp`/`train.amp_dtype` run at on `device`; None is full precision.

    CUDA takes float16 or bfloat16. The CPU takes bfloat16 only: its float16 autocast is slow and
    float16's range needs a grad scaler, which is CUDA's alone.
    """
    if not amp:
        return None
    dtype = getattr(torch, amp_dtype)
    if device.type == "cuda" or (device.type == "cpu" and dtype == torch.bfloat16):
        return dtype
    return None


def autocast(device_type: str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to `dtype` on that device type, or nothing when `dtype` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=dtype)


class Optimization:
    """AdamW, the plateau scheduler, the AMP autocast and grad scaler, and the optional EMA of one model."""

    def __init__(self, model: nn.Module, cfg: TrainConfig, param_groups: Sequence[Mapping[str, Any]] | None,
                 device: torch.device) -> None:
        params = list(param_groups) if param_groups else [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode=cfg.mode, factor=cfg.plateau_factor, patience=cfg.plateau_patience,
            min_lr=cfg.min_lr)
        self.amp_dtype = autocast_dtype(cfg.amp, cfg.amp_dtype, device)
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.ema = EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.grad_clip = cfg.grad_clip
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device_type, self.amp_dtype)

    def step(self, model: nn.Module, loss: torch.Tensor) -> None:
        """Backpropagate `loss`, clip, update the weights and then their average."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(model)

    def lrs(self) -> dict[str, float]:
        """The learning rate of each parameter group: `lr`, then `lr_1`, `lr_2`..."""
        return {("lr" if i == 0 else f"lr_{i}"): g["lr"] for i, g in enumerate(self.optimizer.param_groups)}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "ema": self.ema.state_dict() if self.ema else None}

    def load_state_dict(self, state: Mapping[str, Any], source: Path) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:  # empty when saved without float16 AMP (e.g. on CPU)
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            if state["ema"] is None:
                raise AbawError(f"{source}: trained without EMA; set train.ema_decay = 0 to resume it")
            self.ema.load_state_dict(state["ema"])


def fit(model: nn.Module, task: Task, train_set: Dataset, cfg: TrainConfig, run: Run, *, kind: str,
        arch: Any = None, collate_fn: Callable[[list], Any] | None = None,
        param_groups: Sequence[Mapping[str, Any]] | None = None, resume: bool = False) -> dict[str, Any]:
    """Train `model` on `train_set`, selecting the best epoch by `cfg.monitor`; return a summary dict.

    `kind`/`arch` tag the checkpoints (see `abaw.checkpoint`). `param_groups` are AdamW parameter groups
    (each may set its own "lr"/"weight_decay"; default: every trainable parameter at `cfg.lr`).
    `resume` continues from the run's `last.pt` when there is one. On return the model holds the
    weights of `best.pt` (the averaged ones with EMA).
    """
    init_distributed(cfg.device)
    if len(train_set) == 0:  # type: ignore[arg-type]
        raise AbawError("the training set is empty; check the [data] paths and the split")
    device = default_device(cfg.device)
    model.to(device)
    opt = Optimization(model, cfg, param_groups, device)
    progress = Progress()
    tags = {"kind": kind, "arch": arch}
    if resume and run.last_checkpoint.is_file():
        ckpt = load_checkpoint(run.last_checkpoint, kind, arch)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt, run.last_checkpoint)
        progress = Progress(**ckpt["progress"])
        rng = ckpt["rng"]
        set_rng_state(rng[rank()] if len(rng) == world_size() else rng[0])
        log.info("resuming after epoch %d from %s", progress.epoch, run.last_checkpoint)
    else:
        if resume:
            log.info("%s not found; starting from the first epoch", run.last_checkpoint)
        seed_everything(cfg.seed + rank())

    sampler = make_sampler(train_set, shuffle=True, seed=cfg.seed)
    # Workers start afresh each epoch, seeded from `generator` and so from (seed, rank, epoch) alone: a run
    # resumed at epoch k draws the same augmentation and dropout in its workers as one that never stopped.
    loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                        collate_fn=collate_fn, pin_memory=device.type == "cuda", generator=torch.Generator())
    net: nn.Module = model
    if is_distributed():
        net = DistributedDataParallel(model, device_ids=[local_rank()] if device.type == "cuda" else None,
                                      find_unused_parameters=cfg.find_unused_parameters)

    while progress.epoch < cfg.epochs and not progress.stopped(cfg):
        epoch = progress.epoch + 1
        started = time.time()
        sampler.set_epoch(epoch)
        loader.generator.manual_seed(worker_seed(cfg.seed, epoch))
        train_loss = train_epoch(net, model, loader, task, opt, cfg, epoch, device)
        metrics = validate_on_main(model, task, opt.ema)
        if cfg.monitor not in metrics:
            raise AbawError(f"train.monitor = {cfg.monitor!r} is not a validation metric; "
                            f"choose one of: {', '.join(metrics)}")
        lrs = opt.lrs()  # the rates this epoch trained with, before the scheduler sets the next epoch's
        opt.scheduler.step(metrics[cfg.monitor])
        improved = progress.record(epoch, metrics, cfg)
        rng = gather_objects(get_rng_state())
        if not is_main():
            continue
        if improved:
            with ema_weights(model, opt.ema):
                save_checkpoint(run.best_checkpoint, model.state_dict(), **tags,
                                extra={"epoch": epoch, "metrics": metrics, "monitor": cfg.monitor})
        row = {"epoch": epoch, "train_loss": train_loss, **lrs,
               **{f"val_{k}": v for k, v in metrics.items()}, "time_s": round(time.time() - started, 2)}
        plot_curves(append_metrics(run.metrics_path, row), run.curves_path, f"val_{cfg.monitor}", cfg.mode)
        save_checkpoint(run.last_checkpoint, model.state_dict(), **tags, extra={
            **opt.state_dict(), "progress": dataclasses.asdict(progress), "rng": rng})
        log.info("epoch %d/%d  train_loss %.4f  %s %.4f%s  lr %.3g  %.1fs", epoch, cfg.epochs, train_loss,
                 cfg.monitor, metrics[cfg.monitor], " (best)" if improved else "", row["lr"], row["time_s"])
    if progress.stopped(cfg):
        log.info("early stop: no improvement of %s for %d epochs", cfg.monitor, progress.bad_epochs)

    barrier()
    if run.best_checkpoint.is_file():
        load_weights(model, run.best_checkpoint, kind, arch)
    else:
        log.warning("no epoch gave a finite %s, so there is no best checkpoint", cfg.monitor)
    if is_main():
        write_training_report(run, cfg, progress)
    if progress.best_epoch is not None:
        log.info("best %s %.4f at epoch %d; run directory %s", cfg.monitor, progress.best_score,
                 progress.best_epoch, run.dir)
    return {
        "run_dir": str(run.dir),
        "monitor": cfg.monitor,
        "best_epoch": progress.best_epoch,
        "best_score": progress.best_score,
        "best_metrics": progress.best_metrics,
        "epochs_run": progress.epoch,
        "stopped_early": progress.stopped(cfg),
        "best_checkpoint": str(run.best_checkpoint),
        "last_checkpoint": str(run.last_checkpoint),
        "metrics_csv": str(run.metrics_path),
        "curves_png": str(run.curves_path),
        "report": str(run.report_path),
    }


def write_training_report(run: Run, cfg: TrainConfig, progress: Progress) -> None:
    stopped = f"yes, no improvement for {progress.bad_epochs} epochs" if progress.stopped(cfg) else "no"
    summary: dict[str, Any] = {"monitor": f"{cfg.monitor} ({cfg.mode})", "best epoch": progress.best_epoch,
                               "epochs run": progress.epoch, "stopped early": stopped}
    summary.update({f"best {k}": v for k, v in progress.best_metrics.items()})
    summary.update({"best checkpoint": run.best_checkpoint.relative_to(run.dir),
                    "last checkpoint": run.last_checkpoint.relative_to(run.dir)})
    write_report(run.report_path, f"Training run {run.dir.name}", summary, read_metrics(run.metrics_path),
                 images=(run.curves_path.name,))


def train_epoch(net: nn.Module, model: nn.Module, loader: DataLoader, task: Task, opt: Optimization,
                cfg: TrainConfig, epoch: int, device: torch.device) -> float:
    """One pass over this rank's share of the data; returns the mean loss over all ranks.

    `net` is what the task calls (the DDP wrapper when distributed), `model` the module it wraps.
    """
    net.train()
    total = torch.zeros((), dtype=torch.float64, device=device)
    steps = 0
    bar = progress(loader, desc=f"epoch {epoch}/{cfg.epochs}", leave=False, dynamic_ncols=True,
                   disable=not is_main())
    for batch in bar:
        with opt.autocast():
            loss = task.training_step(net, to_device(batch, device))
        opt.step(model, loss)
        total += loss.detach().double()
        steps += 1
        if cfg.log_every and steps % cfg.log_every == 0:
            running = (total / steps).item()
            bar.set_postfix(loss=f"{running:.4f}")
            log.info("epoch %d step %d/%d  loss %.4f", epoch, steps, len(loader), running)
    mean = all_reduce_mean((total / max(steps, 1)).item())
    if not math.isfinite(mean):
        raise AbawError(f"training diverged: the mean train loss of epoch {epoch} is {mean}; "
                        "lower train.lr or set train.grad_clip")
    return mean


def require_val_labels(labels: np.ndarray | None, source: object) -> None:
    """Selection on the validation score needs labelled frames; None (ranks other than 0, which do not
    validate) passes. `source` names where the labels come from."""
    if labels is not None and not np.isfinite(labels).any():
        raise AbawError(f"{source}: the validation split has no labelled frame to select a model on")


def validate_on_main(model: nn.Module, task: Task, ema: EMA | None) -> dict[str, float]:
    """The task's metrics, computed on rank 0 with the averaged weights and shared with every rank.

    A failure on rank 0 is shared too, so the other ranks stop now rather than at the collective
    timeout: only torchrun ends the other processes when one fails, other launchers leave them waiting.
    """
    metrics, failure = None, None
    if is_main():
        was_training = model.training
        model.eval()
        try:
            with ema_weights(model, ema), torch.no_grad():
                metrics = {str(k): float(v) for k, v in task.validate(model).items()}
        except Exception as exc:
            failure = exc
        finally:
            model.train(was_training)
    metrics, message = broadcast_object((metrics, None if failure is None else f"{failure}"))
    if failure is not None:
        raise failure
    if message is not None:
        raise AbawError(f"validation failed on rank 0, so rank {rank()} stops too: {message}")
    return metrics


def worker_seed(seed: int, epoch: int) -> int:
    """The base seed of this rank's DataLoader workers in `epoch`, independent of any RNG state."""
    return int(np.random.SeedSequence([seed % 2**32, rank(), epoch]).generate_state(1)[0])


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) batch to `device`; other values pass through."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def get_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch and CUDA generator states, as values `torch.load(weights_only=True)` accepts."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 (the one libraries use)
    return {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, gauss_np = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss_np))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
