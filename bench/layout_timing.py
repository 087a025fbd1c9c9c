"""Time indexing the train + val annotations and parsing the test template (targets: 1.0 s each; 400 MB
peak RSS for indexing).

Each measurement runs in a fresh Python process so that its peak RSS is the job's own (interpreter and
imports included); the wall time covers the call only, not the imports. Best of `repeats` runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent

_INDEX = """
from abaw.affwild import SPLIT_DIRS, index_split
splits = [s for s in ("train", "val") if (target / SPLIT_DIRS[s]).is_dir()]
start = time.perf_counter()
rows = sum(index_split(target, s).n_frames for s in splits)
"""

_TEMPLATE = """
from abaw.affwild import read_template
start = time.perf_counter()
rows = read_template(target).n_rows
"""

_RUNNER = """
import json, resource, sys, time
from pathlib import Path
target = Path(sys.argv[1])
{body}
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "peak_rss_mb": peak, "rows": rows}}))
"""


class Timing(NamedTuple):
    seconds: float
    peak_rss_mb: float


def _measure(body: str, target: str | os.PathLike, repeats: int) -> Timing:
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    runs = []
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, "-c", _RUNNER.format(body=body), str(target)], env=env,
                              capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"timing run failed:\n{proc.stderr}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return Timing(min(r["seconds"] for r in runs), max(r["peak_rss_mb"] for r in runs))


def time_index(annotations_dir: str | os.PathLike, repeats: int = 3) -> Timing:
    """Seconds and peak RSS (MB) of indexing Train_Set and Validation_Set under `annotations_dir`."""
    return _measure(_INDEX, annotations_dir, repeats)


def time_template(path: str | os.PathLike, repeats: int = 3) -> Timing:
    """Seconds and peak RSS (MB) of parsing the test template at `path`."""
    return _measure(_TEMPLATE, path, repeats)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python bench/layout_timing.py ANNOTATIONS_DIR TEMPLATE")
    index = time_index(sys.argv[1])
    template = time_template(sys.argv[2])
    print(f"index train+val: {index.seconds:.3f} s (target <= 1.0 s), peak RSS {index.peak_rss_mb:.0f} MB "
          f"(target <= 400 MB)")
    print(f"template:        {template.seconds:.3f} s (target <= 1.0 s), "
          f"peak RSS {template.peak_rss_mb:.0f} MB")
