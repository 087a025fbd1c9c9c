"""Time one training step of the face stage's temporal model (CPU by default; CUDA for bench/gpu_check.sh).

    python bench/visual_train_step.py [--arch demo|published|both] [--rounds R] [--steps S]
                                      [--device cpu|cuda] [--json]

A step is what `abaw.training.fit` does per batch: forward under the configured autocast, the masked
CCC loss of `train.VisualTask`, backward, gradient clipping and the AdamW update. Batches are 8 full
windows of 400 frames (the demo and published `train` settings) of random features.

For each architecture (`demo`: configs/demo.toml, 576-d features, hidden 64, 2 layers, 4 heads; `published`:
256-d features, hidden 256, 5 layers, 8 heads, ff 1024) it times:

- `today`: the forward of the code before attention dropout had its own rate: attention weights dropped
  at `model.dropout` = 0.1 and a padding mask passed with every batch;
- fp32 and bf16 (autocast, `train.amp = true`, `train.amp_dtype = "bfloat16"`), each with attention
  dropout 0.1 and 0; on CUDA also fp16 (with its grad scaler).

Variants run in interleaved rounds and each figure is the median step time over all rounds, so load
from other processes hits every variant alike; ratios are to `today` of the same architecture. Each
step is timed twice: wall clock, and the CPU time of this process. On shared cores use `--threads 1`
and read the CPU-time ratio (`cpu ratio`): it counts the work of a step, which other jobs do not change.
The FLOPs of one step are counted by torch's FLOP counter (matmuls and attention, forward and
backward); `of matmul` is the achieved FLOP rate over the rate of a large fp32 matmul measured here.
Target: the demo default (fp32, attention dropout 0) at least 2.5x the `today` step rate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from abaw.training import Optimization, TrainConfig  # noqa: E402
from src_visual_dynamic_model.config import ModelConfig, VisualConfig  # noqa: E402
from src_visual_dynamic_model.model import Architecture, TemporalTransformer, sinusoidal_positions  # noqa: E402
from src_visual_dynamic_model.train import VisualTask  # noqa: E402

TARGET_RATIO = 2.5
BATCH, WINDOW = 8, 400
ARCHS = {
    "demo": Architecture(input_dim=576, hidden=64, layers=2, heads=4, ff_dim=128, dropout=0.1, head_dim=64),
    "published": Architecture(input_dim=256, **vars(ModelConfig())),
}


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    amp_dtype: str | None  # None: fp32
    attention_dropout: float
    today: bool = False


def variants(device: torch.device) -> list[Variant]:
    found = [Variant("today", None, 0.1, today=True)]
    for label, dtype in (("fp32", None), ("bf16", "bfloat16"), ("fp16", "float16")):
        if dtype != "float16" or device.type == "cuda":  # CPU autocast takes bfloat16 only
            found += [Variant(f"{label} attn-drop {rate:g}", dtype, rate) for rate in (0.1, 0.0)]
    return found


class Today(nn.Module):
    """The model's forward as it was: the padding mask goes to the encoder even when nothing is padded."""

    def __init__(self, model: TemporalTransformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        x = (features.float() - m.feature_mean) / m.feature_std
        x = m.project(x) + sinusoidal_positions(x.shape[1], m.arch.hidden).to(x.device)
        x = m.encoder(x, src_key_padding_mask=~mask.bool())
        embedding = m.head(x)
        return torch.tanh(m.out(embedding)), embedding


def make_step(arch: Architecture, variant: Variant, device: torch.device) -> Callable[[], torch.Tensor]:
    """A closure running one full training step of a fresh model; returns the loss."""
    torch.manual_seed(0)
    model = TemporalTransformer(dataclasses.replace(arch, attention_dropout=variant.attention_dropout))
    model.to(device).train()
    net = Today(model) if variant.today else model
    train = TrainConfig(amp=variant.amp_dtype is not None, amp_dtype=variant.amp_dtype or "float16")
    opt = Optimization(model, train, None, device)
    task = VisualTask(VisualConfig(), None)
    batch = {"features": torch.randn(BATCH, WINDOW, arch.input_dim, device=device),
             "mask": torch.ones(BATCH, WINDOW, dtype=torch.bool, device=device),
             "target": torch.rand(BATCH, WINDOW, 2, device=device) * 2 - 1}

    def step() -> torch.Tensor:
        with opt.autocast():
            loss = task.training_step(net, batch)
        opt.step(model, loss)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return loss

    return step


def count_flops(arch: Architecture, device: torch.device) -> float:
    """FLOPs of one fp32 training step (forward and backward; the optimizer update is negligible)."""
    from torch.utils.flop_counter import FlopCounterMode

    step = make_step(arch, Variant("count", None, 0.0), device)
    step()
    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def matmul_flops_per_s(device: torch.device, repeats: int = 20) -> float:
    """Best fp32 matmul rate over a few tries: the machine's ceiling for this kind of work."""
    size = 1024 if device.type == "cpu" else 8192
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2 * size ** 3 / best


def measure(arch_names: list[str], rounds: int, steps: int, device: torch.device
            ) -> dict[str, dict[str, dict[str, float]]]:
    results: dict[str, dict[str, dict[str, float]]] = {}
    peak = matmul_flops_per_s(device)
    for name in arch_names:
        arch = ARCHS[name]
        flops = count_flops(arch, device)
        closures = {v.name: make_step(arch, v, device) for v in variants(device)}
        for step in closures.values():  # warm-up: first-call allocations and kernel selection
            step()
        times: dict[str, list[float]] = {v: [] for v in closures}
        cpu: dict[str, list[float]] = {v: [] for v in closures}
        for _ in range(rounds):
            for variant, step in closures.items():
                for _ in range(steps):
                    start, start_cpu = time.perf_counter(), time.process_time()
                    step()
                    times[variant].append(time.perf_counter() - start)
                    cpu[variant].append(time.process_time() - start_cpu)
        today, today_cpu = statistics.median(times["today"]), statistics.median(cpu["today"])
        results[name] = {}
        for variant, seconds in times.items():
            median, median_cpu = statistics.median(seconds), statistics.median(cpu[variant])
            results[name][variant] = {"step_ms": median * 1e3, "steps_per_s": 1 / median,
                                      "ratio": today / median, "cpu_ms": median_cpu * 1e3,
                                      "cpu_ratio": today_cpu / median_cpu, "gflop_per_step": flops / 1e9,
                                      "of_matmul": flops / median / peak}
    results["machine"] = {"matmul": {"gflop_per_s": peak / 1e9, "threads": float(torch.get_num_threads())}}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("demo", "published", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the variants")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per variant and round")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads (default: torch's choice, one per core); 1 measures CPU work alone "
                             "when other jobs share the cores (a busy core stalls a multi-thread kernel)")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = ["demo", "published"] if args.arch == "both" else [args.arch]
    results = measure(names, args.rounds, args.steps, device)
    machine = results["machine"]["matmul"]
    threads = f"{machine['threads']:.0f} CPU threads"
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else threads
    print(f"fp32 matmul: {machine['gflop_per_s']:.1f} GFLOP/s on {where}")
    print(f"{'arch':<10} {'variant':<20} {'step ms':>8} {'steps/s':>8} {'ratio':>6} {'cpu ms':>8} "
          f"{'cpu ratio':>9} {'GFLOP/step':>10} {'of matmul':>9}")
    for name in names:
        for variant, row in results[name].items():
            print(f"{name:<10} {variant:<20} {row['step_ms']:8.1f} {row['steps_per_s']:8.2f} "
                  f"{row['ratio']:6.2f} {row['cpu_ms']:8.1f} {row['cpu_ratio']:9.2f} "
                  f"{row['gflop_per_step']:10.2f} {row['of_matmul']:9.1%}")
    if "demo" in results and device.type == "cpu":
        row = results["demo"]["fp32 attn-drop 0"]
        for label, ratio in (("wall", row["ratio"]), ("CPU time", row["cpu_ratio"])):
            verdict = "meets" if ratio >= TARGET_RATIO else "misses"
            print(f"demo default step ({label}) {ratio:.2f}x today's: {verdict} the {TARGET_RATIO}x target")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
