"""Time `abaw blend` of three sources on the `scale` preset (383,814 val + 927,210 test rows; target 30 s).

    python bench/blend.py [--data DIR] [--work DIR] [--json]

The sources are the labels plus noise in the three forms blend reads: frames tables with 256-d float16
embeddings (as the face stage exports them), per-video TXT files with a flat test submission, and frames
tables without embeddings. Writing them is not timed; the timed span is `run_blend` (reading, aligning,
fitting every subset on one half of val, scoring on the other, refitting, writing the fused tables, the
leaderboard and the validated submission), once without and once with fitted smoothing.
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

from abaw.affwild import index_split, read_template  # noqa: E402
from abaw.blend import BlendOptions, parse_sources, reference, run_blend  # noqa: E402
from abaw.config import DataConfig, load_section  # noqa: E402
from abaw.submission import write_submission, write_video_txts  # noqa: E402
from abaw.tables import frames_table, make_meta, write_table  # noqa: E402
from bench.protocol import ensure_scale_dataset  # noqa: E402

TARGET_S = 30.0
EMBEDDING_DIM = 256


def write_sources(data: DataConfig, work: Path) -> list[str]:
    """Three sources of val and test predictions under `work`; returns their --source specs."""
    rng = np.random.default_rng(0)
    val = index_split(data.annotations, "val")
    test = reference(data, "test", read_template(data.test_template)).index
    for name, noise in (("face", 0.3), ("txt", 0.5), ("plain", 0.7)):
        for split, index in (("val", val), ("test", test)):
            pred = np.clip(np.nan_to_num(index.labels) + rng.normal(0, noise, index.labels.shape), -1, 1)
            pred = pred.astype(np.float32)
            embedding = None
            if name == "face":
                embedding = np.ones((index.n_frames, EMBEDDING_DIM), np.float16)  # only its bytes matter
            if name != "txt":
                table = frames_table(index.videos, index.offsets, frame=index.frames, prediction=pred,
                                     embedding=embedding, meta=make_meta("frames", split, name, "bench"))
                write_table(work / name / f"{split}.npz", table)
            elif split == "val":
                write_video_txts(work / name / "predictions" / "val", index.videos, index.offsets, pred)
    template = read_template(data.test_template)
    test_pred = rng.uniform(-1, 1, (template.n_rows, 2))
    write_submission(work / "txt" / "submission.txt", template, test_pred)
    return [f"{name}={work / name}" for name in ("face", "txt", "plain")]


def time_blend(data: DataConfig, specs: list[str], out: Path, smooth: bool) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of this process, result); on a shared machine the CPU time is what an
    idle one would take, since blending runs on one core."""
    start, cpu = time.perf_counter(), time.process_time()
    result = run_blend(data, parse_sources(specs), BlendOptions(smooth=smooth), out)
    return time.perf_counter() - start, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench" / "scale")
    parser.add_argument("--work", type=Path, help="where the sources go (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ensure_scale_dataset(args.data)
    data = load_section(DataConfig, args.data / "data.toml", "data")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        specs = write_sources(data, work)
        figures = {}
        for smooth in (False, True):
            key = "blend_smooth" if smooth else "blend"
            seconds, cpu, result = time_blend(data, specs, work / key, smooth)
            figures[f"{key}_s"], figures[f"{key}_cpu_s"] = seconds, cpu
            verdict = "ok" if seconds <= TARGET_S else "OVER TARGET"
            print(f"{key:15s} {seconds:7.2f} s (cpu {cpu:6.2f} s)   target <= {TARGET_S:.0f} s   "
                  f"ratio {seconds / TARGET_S:5.2f}   {verdict}   "
                  f"(chosen {result['chosen']}, eval score {result['eval_score']:.4f})")
    if args.json:
        print(json.dumps({name: round(value, 3) for name, value in figures.items()}))


if __name__ == "__main__":
    main()
