"""Time the behaviour describer (tiny Qwen3-VL) on demo-sized clips at batch 1 and batch 8.

    python bench/behaviour_describe.py [--clips 32] [--max-new-tokens 100] [--json]

Clips are 16 frames of 64 x 128 pixels (the demo's sampled size, random pixels: the cost of a clip
does not depend on its content, only on its shape and on how many tokens are generated). Prints
clips per second at each batch size, the model's text forward calls per clip, and checks that every
batch costs exactly one prefill plus one call per decoding step. The target: the demo preset's
clips (all three splits, about 1,200) described within 5 minutes on 2 CPU cores at batch 8.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEMO_CLIPS = 1200
TARGET_CLIPS_PER_S = DEMO_CLIPS / 300.0


def clips(n: int, seed: int = 0) -> list:
    from src_behavior_description.describer import Clip

    rng = np.random.default_rng(seed)
    return [Clip(frames=rng.integers(0, 256, (16, 64, 128, 3), dtype=np.uint8), times=np.arange(16) / 4.0)
            for _ in range(n)]


def measure(n: int, max_new_tokens: int, batch_size: int, folder: Path) -> dict[str, float]:
    from src_behavior_description.describer import Describer, DescriberConfig

    cfg = DescriberConfig(kind="tiny", path=folder, batch_size=batch_size, max_new_tokens=max_new_tokens)
    describer = Describer.load(cfg)
    describer.describe(clips(min(n, batch_size), seed=1))           # warm the caches and allocator
    prefills: list[int] = []
    hook = describer.model.model.language_model.register_forward_pre_hook(
        lambda m, a, kw: prefills.append(kw["inputs_embeds"].shape[1] > 1), with_kwargs=True)
    before = describer.forward_calls
    start = time.perf_counter()
    out = describer.describe(clips(n))
    seconds = time.perf_counter() - start
    hook.remove()
    calls = describer.forward_calls - before
    batches = [out[i:i + batch_size] for i in range(0, n, batch_size)]
    expected = sum(1 + max(d.generated_tokens for d in b) for b in batches)
    if calls != expected or sum(prefills) != len(batches):
        raise SystemExit(f"batch {batch_size}: {calls} forward calls and {sum(prefills)} prefills, expected "
                         f"{expected} and {len(batches)}")
    return {"batch": batch_size, "clips_per_s": n / seconds, "seconds": seconds,
            "calls_per_clip": calls / n, "prefills": sum(prefills),
            "generated_per_clip": float(np.mean([d.generated_tokens for d in out])),
            "video_tokens": out[0].video_tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        from src_behavior_description.tiny_models import build_tiny_qwen3vl

        folder = build_tiny_qwen3vl(Path(tmp) / "tiny")
        rows = [measure(args.clips, args.max_new_tokens, b, folder) for b in (1, 8)]
    if args.json:
        print(json.dumps(rows))
        return
    print(f"tiny describer, {args.clips} clips of 16 x 64 x 128, max_new_tokens {args.max_new_tokens}")
    for r in rows:
        print(f"batch {r['batch']}: {r['clips_per_s']:.2f} clips/s ({r['seconds']:.1f} s), "
              f"{r['calls_per_clip']:.2f} text-model calls per clip ({r['prefills']} prefills, "
              f"{r['generated_per_clip']:.1f} generated tokens per clip, {r['video_tokens']} video tokens)")
    best = rows[-1]["clips_per_s"]
    print(f"target: >= {TARGET_CLIPS_PER_S:.1f} clips/s at batch 8 (demo in 5 min); ratio "
          f"{best / TARGET_CLIPS_PER_S:.2f}; batch 8 vs 1: {best / rows[0]['clips_per_s']:.2f}x")


if __name__ == "__main__":
    main()
