"""Time the training data pipeline of src_visual_dynamic_model on the `scale` preset with 256-d features.

    python bench/visual_loader.py [--data DIR] [--json]

Loads the train split's feature caches (1.68 M frames, nearest fill), builds the windows of 400 frames
(hop 150 plus end-aligned ones) and runs one full shuffled pass through the same DataLoader, sampler
and collate that training uses, without the model. Prints windows per second, the pass time and the
peak RSS next to their targets. The dataset is generated into DIR on first use and reused after.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"windows_per_s": 2000.0, "pass_s": 10.0, "peak_rss_gb": 3.0}
HIGHER_IS_BETTER = {"windows_per_s"}
DIM = 256

CONFIG = """
[extract]
features = "features"      # the caches written by `abaw synth --features 256`
require_manifest = false   # they come without an extraction manifest

[train]
window = 400
hop_length = 150
batch_size = 8
"""


def ensure_dataset(data: Path) -> Path:
    """Generate the scale preset with feature caches unless present; returns a stage config beside it."""
    if not (data / "features" / "train").is_dir():
        cmd = [sys.executable, "-m", "abaw", "synth", "--preset", "scale", "--features", str(DIM),
               "--out", str(data)]
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    config = data / "visual_bench.toml"
    config.write_text((data / "data.toml").read_text() + CONFIG)
    return config


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # ru_maxrss is in KiB on Linux


def measure(config: Path) -> dict[str, float]:
    from torch.utils.data import DataLoader

    from abaw.distributed import make_sampler
    from abaw.windowed import WindowSet, labelled_windows, make_windows, shift_labels
    from src_visual_dynamic_model import config as stage_config
    from src_visual_dynamic_model.data import load_split

    cfg = stage_config.load(config)
    train_cfg = cfg.train
    start = time.perf_counter()
    train = load_split(cfg, "train")
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    targets = shift_labels(train.labels, train.offsets, train_cfg.time_delay)
    windows = labelled_windows(make_windows(train.offsets, train_cfg.window, train_cfg.hop_length), targets)
    dataset = WindowSet(windows, {"features": train.features}, targets, train_cfg.window)
    sampler = make_sampler(dataset, shuffle=True, seed=0)
    sampler.set_epoch(1)
    loader = DataLoader(dataset, batch_size=train_cfg.batch_size, sampler=sampler, collate_fn=dataset.collate,
                        num_workers=train_cfg.num_workers)
    seen = 0
    checksum = 0.0
    for batch in loader:
        seen += batch["features"].shape[0]
        checksum += float(batch["features"][:, 0, 0].sum())  # touch every batch
    pass_s = time.perf_counter() - start
    return {"frames": float(train.n_frames), "dim": float(train.dim), "windows": float(seen),
            "load_s": load_s, "pass_s": pass_s, "windows_per_s": seen / pass_s, "peak_rss_gb": peak_rss_gb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench" / f"scale-f{DIM}")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = measure(ensure_dataset(args.data))
    print(f"train split: {figures['frames']:,.0f} frames x {figures['dim']:.0f}-d, "
          f"{figures['windows']:,.0f} windows of 400 frames; caches loaded in {figures['load_s']:.2f} s")
    ok = True
    for name, target in TARGETS.items():
        value = figures[name]
        good = value >= target if name in HIGHER_IS_BETTER else value <= target
        ok &= good
        bound = ">=" if name in HIGHER_IS_BETTER else "<="
        print(f"{name:14s} {value:10.2f}   target {bound} {target:7.1f}   ratio {value / target:5.2f}   "
              f"{'ok' if good else 'MISSES TARGET'}")
    if args.json:
        print(json.dumps(figures))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
