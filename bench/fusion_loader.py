"""Time the fusion stage's data pipeline on the `scale` preset: two 256-d float16 modalities.

    python bench/fusion_loader.py [--data DIR] [--work DIR] [--json]

Writes a face and a behaviour `frames` table per split (random 256-d float16 embeddings, behaviour on
odd frames only) into WORK (not timed). Timed: `load_split` of train, val and test with both modalities
(reading, nearest-frame alignment, validity flags), with the bytes the splits hold for the modalities
(columns as read, row indices, validity flags) beside the raw bytes of the embeddings read; then one
shuffled pass over the train windows (400 frames, hop 150 plus end-aligned) through the training
collate (one gather per batch of 8), without the model. Wall and CPU time of this process are both
given: on a shared machine the CPU time is the steadier figure.
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

from abaw.config import DataConfig, load_section  # noqa: E402
from abaw.positions import split_positions  # noqa: E402
from abaw.tables import frames_table, make_meta, write_table  # noqa: E402
from abaw.windowed import WindowSet, training_windows  # noqa: E402
from bench.protocol import ensure_scale_dataset  # noqa: E402

TARGETS = {"load_s": 10.0, "load_cpu_s": 10.0, "kept_over_raw": 1.2, "windows_per_s": 5000.0,
           "windows_per_cpu_s": 5000.0}
HIGHER_IS_BETTER = {"windows_per_s", "windows_per_cpu_s"}
DIM = 256

CONFIG = """
[modalities.face]
frames = "{work}/face"
input = "embedding"

[modalities.behaviour]
frames = "{work}/behaviour"
input = "embedding"

[train]
window = 400
hop_length = 150
batch_size = 8
"""


def write_modalities(data: DataConfig, work: Path) -> int:
    """The two modalities' tables; returns the raw bytes of their embeddings."""
    rng = np.random.default_rng(0)
    raw = 0
    for split in ("train", "val", "test"):
        pos = split_positions(data, split)
        n = len(pos.frames)
        base = rng.standard_normal((n, DIM), dtype=np.float32).astype(np.float16)
        keep = pos.frames % 2 == 1
        offsets = np.concatenate([[0], np.cumsum(np.add.reduceat(keep, pos.offsets[:-1]))])
        for name, rows, offs in (("face", np.ones(n, bool), pos.offsets), ("behaviour", keep, offsets)):
            emb = base[rows]
            raw += emb.nbytes
            write_table(work / name / f"{split}.npz", frames_table(
                pos.videos, offs, frame=pos.frames[rows], embedding=emb, label=pos.labels[rows],
                meta=make_meta("frames", split, name, "bench")))
    return raw


def measure(config: Path, raw: int) -> dict[str, float]:
    from src_fusion_model import config as stage_config
    from src_fusion_model.data import load_split

    cfg = stage_config.load(config)
    start, cpu = time.perf_counter(), time.process_time()
    splits = {split: load_split(cfg, split) for split in ("train", "val", "test")}
    load_s, load_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    kept = sum(s.nbytes for s in splits.values())
    train = splits["train"]
    grid = train.grid
    targets, window, windows = training_windows(grid, train.labels, cfg.train.window, cfg.train.hop_length)
    dataset = WindowSet(windows, train.arrays(), targets, window, grid.rows)
    order = np.random.default_rng(0).permutation(len(dataset))
    start, cpu = time.perf_counter(), time.process_time()
    for b in range(0, len(order), cfg.train.batch_size):
        dataset.collate(order[b:b + cfg.train.batch_size].tolist())
    pass_s, pass_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    return {"frames": float(sum(s.n_frames for s in splits.values())), "load_s": load_s,
            "load_cpu_s": load_cpu_s, "kept_over_raw": kept / raw, "windows": float(len(dataset)),
            "pass_s": pass_s, "windows_per_s": len(dataset) / pass_s,
            "windows_per_cpu_s": len(dataset) / pass_cpu_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "abaw_scale")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "abaw_fusion_bench")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not (args.data / "data.toml").is_file():
        ensure_scale_dataset(args.data)
    data = load_section(DataConfig, args.data / "data.toml", "data")
    raw = write_modalities(data, args.work)
    config = args.work / "fusion_bench.toml"
    config.write_text(f'[data]\nannotations = "{data.annotations}"\ntest_template = "{data.test_template}"\n'
                      + CONFIG.format(work=args.work))
    result = measure(config, raw)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        target = TARGETS.get(key)
        if target is None:
            print(f"{key}: {value:,.2f}")
            continue
        ratio = value / target
        sign = ">=" if key in HIGHER_IS_BETTER else "<="
        print(f"{key}: {value:,.2f} (target {sign} {target:g}; ratio {ratio:.2f})")


if __name__ == "__main__":
    main()
