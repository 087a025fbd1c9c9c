"""Time writing a flat submission for a test template and validating it (target: at most 1.5 s)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from abaw.affwild import read_template
from abaw.submission import validate_submission, write_submission


def time_write_validate(template_path: str | Path, repeats: int = 3) -> float:
    """Best of `repeats` wall times (seconds) of `write_submission` followed by `validate_submission`.

    Template parsing for the writer is not timed (a pipeline already holds the template); the validator
    parses it again inside the timed span, as `abaw validate-submission` does.
    """
    template = read_template(template_path)
    predictions = np.random.default_rng(0).uniform(-1.1, 1.1, (template.n_rows, 2)).astype(np.float32)
    best = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        submission = Path(tmp) / "submission.txt"
        for _ in range(repeats):
            start = time.perf_counter()
            write_submission(submission, template, predictions)
            problems = validate_submission(template_path, submission)
            best = min(best, time.perf_counter() - start)
            if problems:
                raise RuntimeError(f"the written submission does not validate: {problems}")
    return best


if __name__ == "__main__":
    print(f"write + validate: {time_write_validate(sys.argv[1]):.3f} s (target <= 1.5 s)")
