"""Helper of test_distributed.py, run under `torchrun --nproc_per_node=2`: trains a tiny model with `fit`.

Usage: ddp_train_script.py OUTPUT_ROOT RECORD_DIR. Each rank writes `RECORD_DIR/rank<r>.json` with the
sample indices it trained on per epoch, the number of validations it ran, every file it opened for writing
or created under OUTPUT_ROOT (seen through a Python audit hook), the gathered arrays and `fit`'s summary.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from abaw.distributed import all_gather_arrays, rank
from abaw.runs import create_run
from abaw.training import TrainConfig, fit

output_root, record_dir = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
writes: list[str] = []


def audit(event: str, args: tuple) -> None:
    if event == "open":
        path, mode, flags = args
        writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(
            (flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
    elif event in ("os.mkdir", "os.rename", "os.replace"):
        path, writing = args[0] if event == "os.mkdir" else args[1], True
    else:
        return
    if writing and isinstance(path, (str, os.PathLike)) and str(path).startswith(str(output_root)):
        writes.append(str(path))


sys.addaudithook(audit)


class Task:
    """Regression of the sum of the inputs; records which samples this rank trained on, per epoch."""

    def __init__(self, steps_per_epoch: int) -> None:
        self.steps_per_epoch = steps_per_epoch
        self.steps = 0
        self.seen: dict[int, list[int]] = {}
        self.validations = 0
        self.val_x = torch.randn(32, 4, generator=torch.Generator().manual_seed(1))
        self.val_y = self.val_x.sum(dim=1, keepdim=True)

    def training_step(self, model: nn.Module, batch: list[torch.Tensor]) -> torch.Tensor:
        index, x, y = batch
        self.seen.setdefault(self.steps // self.steps_per_epoch + 1, []).extend(index.tolist())
        self.steps += 1
        return nn.functional.mse_loss(model(x), y)

    def validate(self, model: nn.Module) -> dict[str, float]:
        self.validations += 1
        device = next(model.parameters()).device
        return {"score": -nn.functional.mse_loss(model(self.val_x.to(device)), self.val_y.to(device)).item()}


def main() -> None:
    x = torch.randn(40, 4, generator=torch.Generator().manual_seed(0))
    data = TensorDataset(torch.arange(40), x, x.sum(dim=1, keepdim=True))
    cfg = TrainConfig(epochs=3, lr=0.05, batch_size=5, early_stop_patience=0, log_every=0)
    task = Task(steps_per_epoch=40 // 2 // cfg.batch_size)
    run = create_run(output_root, "ddp", "tiny", cfg)
    model = nn.Linear(4, 1)
    summary = fit(model, task, data, cfg, run, kind="linear", arch={"in": 4})
    gathered = all_gather_arrays(np.full((rank() + 2, 3), rank(), dtype=np.float32))
    record = {
        "seen": task.seen,
        "validations": task.validations,
        "writes": sorted(set(writes)),
        "gathered": [[list(a.shape), float(a.mean())] for a in gathered],
        "summary": summary,
        "weight": model.weight.detach().flatten().tolist(),
    }
    (record_dir / f"rank{rank()}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
