"""Windows per second of the audio model with WavLM-Large shapes (random weights) in bf16 on a GPU.

    python bench/gpu_audio.py [--batch 32] [--steps 20] [--trainable-layers 4] [--json]

Training: forward and backward of the whole model (last 4 encoder layers, pooling and head trainable,
as published) on 4 s windows at 16 kHz under bf16 autocast with AdamW. Inference: forward only.
Without a GPU it says so and stops: WavLM-Large steps take minutes each on a CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from src_audio_and_fusion.model import Architecture, AudioModel, set_trainable  # noqa: E402

SAMPLES = 64_000


def large_backbone() -> torch.nn.Module:
    """WavLM-Large's shape: 24 layers of 1024, 16 heads, layer-normalised conv extractor, no conv bias."""
    from transformers import WavLMConfig, WavLMModel

    config = WavLMConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                         intermediate_size=4096,
                         conv_bias=False, feat_extract_norm="layer", do_stable_layer_norm=True,
                         layerdrop=0.1, mask_time_prob=0.05)
    return WavLMModel(config)


def timed(step, repeats: int) -> float:
    step()  # warm-up (kernel selection, allocator)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--trainable-layers", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no GPU visible: nothing measured (run this on a GPU machine)")
        return
    device = torch.device("cuda")
    batch, steps = args.batch, args.steps
    backbone = large_backbone()
    set_trainable(backbone, args.trainable_layers)
    arch = Architecture(backbone={}, steps=4, window_samples=SAMPLES, pool_hidden=128, head_dim=256,
                        dropout=0.1,
                        normalise="window", global_scale=1.0)
    model = AudioModel(backbone, arch).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    wave = torch.randn(batch, SAMPLES, device=device)
    mask = torch.ones(batch, SAMPLES, dtype=torch.bool, device=device)
    mask[batch // 2:, 48_000:] = False  # half the batch are 3 s tails, padded
    autocast = torch.autocast("cuda", dtype=torch.bfloat16)

    def train_step() -> None:
        model.train()
        with autocast:
            pred, _ = model(wave, mask)
            loss = pred.float().square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def infer_step() -> None:
        model.eval()
        with autocast:
            model(wave, mask)

    train_s = timed(train_step, steps)
    infer_s = timed(infer_step, steps)
    result = {"device": torch.cuda.get_device_name(), "batch": batch,
              "train_windows_per_s": round(batch / train_s, 1),
              "infer_windows_per_s": round(batch / infer_s, 1),
              "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}
    print(f"{result['device']}: training {result['train_windows_per_s']} windows/s, inference "
          f"{result['infer_windows_per_s']} windows/s (batch {batch}, bf16, WavLM-Large shapes)")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
