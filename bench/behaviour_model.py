"""Speed of the behaviour sequence model on CPU (or the machine's GPU with --device cuda).

1. Training steps per second (forward, backward, AdamW) of the published Mamba (12 layers, d_model 256,
   d_state 8) on batches of 8 sequences of 16 clips of 2560-d vectors, with the log-space parallel scan
   and with the sequential reference scan; the ratio is the parallel scan's speed-up.
2. One training epoch at Aff-Wild2 size: 1,682,057 train frames in 356 streams at 30 fps give about 28 k
   clips (4 s every 2 s); their sequences (16 clips, stride 8, plus end-aligned ones) are gathered from
   random 2560-d vectors and trained on exactly as `train` does; then the frame-level validation pass
   (383,814 frames, 76 streams: clip predictions spread to frames and scored). By default a part of the
   epoch is timed and scaled to the whole (printed as such); `--full` times every batch.

    python bench/behaviour_model.py [--steps 10] [--epoch-batches 40 | --full] [--device cpu] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from abaw.clips import plan_clips  # noqa: E402
from abaw.losses import CCCLoss  # noqa: E402
from abaw.metrics import va_score  # noqa: E402
from abaw.positions import Positions  # noqa: E402
from src_behavior_model.config import BehaviourConfig  # noqa: E402
from src_behavior_model.data import ClipSplit, gather, make_sequences, spread  # noqa: E402
from src_behavior_model.inference import predict_clips  # noqa: E402
from src_behavior_model.model import ClipModel, architecture  # noqa: E402
from src_behavior_model.scan import parallel_scan, sequential_scan  # noqa: E402

DIM = 2560
TRAIN = (356, 1_682_057)  # streams, frames (Aff-Wild2 train)
VAL = (76, 383_814)
FPS = 30.0


def published_model(device: torch.device) -> ClipModel:
    torch.manual_seed(0)
    arch = {**architecture(BehaviourConfig(), DIM), "feature_dims": [DIM], "producer": "bench"}
    return ClipModel(arch).to(device)


def synthetic_split(split: str, streams: int, frames: int, seed: int) -> tuple[ClipSplit, Positions]:
    """Streams of Aff-Wild2's mean length with their clip plan, random vectors and labels."""
    rng = np.random.default_rng(seed)
    lengths = np.full(streams, frames // streams)
    lengths[: frames - lengths.sum()] += 1
    plan = plan_clips(lengths, np.full(streams, FPS))
    n = plan.n_clips
    videos = np.array([f"{split}{i:03d}" for i in range(streams)])
    clips = ClipSplit(split, videos, plan.offsets, plan.start, plan.stop,
                      rng.standard_normal((n, DIM), dtype=np.float32),
                      rng.uniform(-1, 1, (n, 2)).astype(np.float32), "bench", (DIM,))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    frame = (np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths) + 1).astype(np.int32)
    positions = Positions(videos, offsets, frame, rng.uniform(-1, 1, (offsets[-1], 2)).astype(np.float32))
    return clips, positions


def steps_per_second(model: ClipModel, scan, steps: int, device: torch.device) -> tuple[float, float]:
    """Training steps per wall-clock second, and CPU seconds per step (this process's own work, which
    other jobs sharing the cores do not inflate as much)."""
    model.encoder.set_scan(scan)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-3)
    loss_fn = CCCLoss()
    x = torch.randn(8, 16, DIM, device=device)
    y = torch.rand(8, 16, 2, device=device) * 2 - 1
    mask = torch.ones(8, 16, dtype=torch.bool, device=device)

    def step() -> None:
        loss = loss_fn(model(x, mask)[0], y, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    sync(device)
    return steps / (time.perf_counter() - start), (time.process_time() - cpu) / steps


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def epoch_time(model: ClipModel, train: ClipSplit, batches: int | None, device: torch.device) -> dict:
    model.encoder.set_scan(parallel_scan)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-3)
    loss_fn = CCCLoss()
    seqs = make_sequences(train.offsets, 16, 8)
    order = np.random.default_rng(0).permutation(len(seqs))
    total = (len(seqs) + 7) // 8
    timed = total if batches is None else min(batches, total)
    start = time.perf_counter()
    for b in range(timed):
        batch = gather(seqs, order[b * 8:(b + 1) * 8], 16, train.features, train.labels)
        mask = batch["mask"].to(device)
        loss = loss_fn(model(batch["features"].to(device), mask)[0], batch["target"].to(device), mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(device)
    seconds = time.perf_counter() - start
    return {"clips": train.n_clips, "sequences": len(seqs), "batches": total, "timed_batches": timed,
            "epoch_s": seconds * total / timed}


def validation_time(model: ClipModel, val: ClipSplit, positions: Positions) -> float:
    start = time.perf_counter()
    pred, _ = predict_clips(model, val, 16, 8, 64)
    va_score(spread(val, positions, pred), positions.labels)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per scan")
    parser.add_argument("--epoch-batches", type=int, default=40, help="batches timed for the epoch estimate")
    parser.add_argument("--full", action="store_true", help="time every batch of the epoch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    model = published_model(device)
    parallel, parallel_cpu = steps_per_second(model, parallel_scan, args.steps, device)
    sequential, sequential_cpu = steps_per_second(model, sequential_scan, args.steps, device)
    threads = torch.get_num_threads()
    print(f"12-layer Mamba, batch 8 x 16 clips, d_model 256, {DIM}-d inputs, {threads} threads "
          f"on {device}:")
    print(f"  training steps/s: parallel scan {parallel:.2f}, sequential scan {sequential:.2f} "
          f"(parallel / sequential = {parallel / sequential:.2f})")
    print(f"  CPU seconds per step: parallel scan {parallel_cpu:.2f}, sequential scan {sequential_cpu:.2f}")
    train, _ = synthetic_split("train", *TRAIN, seed=0)
    epoch = epoch_time(model, train, None if args.full else args.epoch_batches, device)
    kind = "measured" if epoch["timed_batches"] == epoch["batches"] else \
        f"scaled from {epoch['timed_batches']} of {epoch['batches']} batches"
    print(f"  one epoch: {epoch['clips']} train clips, {epoch['sequences']} sequences, "
          f"{epoch['epoch_s']:.0f} s ({kind})")
    val, positions = synthetic_split("val", *VAL, seed=1)
    val_s = validation_time(model, val, positions)
    print(f"  frame-level validation: {val.n_clips} clips -> {VAL[1]} frames, {val_s:.1f} s")
    if args.json:
        print(json.dumps({"parallel_steps_s": parallel, "sequential_steps_s": sequential,
                          "parallel_cpu_s_per_step": parallel_cpu,
                          "sequential_cpu_s_per_step": sequential_cpu, **epoch, "validation_s": val_s}))


if __name__ == "__main__":
    main()
