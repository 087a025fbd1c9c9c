"""The pipeline's planning and skipping with a stand-in runner, and one real run on the tiny preset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from abaw.errors import AbawError
from abaw.pipeline import (
    STAGES,
    Outcome,
    build_steps,
    data_stamp,
    execute,
    load_pipeline,
    plan,
    read_state,
    selection,
    state_path,
)
from tests.abaw.pipeline_configs import write_pipeline

ROOT = Path(__file__).resolve().parents[2]
ALL = [
    "face:extract", "face:train", "face:export",
    "behaviour_description:segments", "behaviour_description:describe",
    "behaviour:train", "behaviour:export",
    "audio:extract-audio", "audio:windows", "audio:train-audio", "audio:export-audio",
    "raav:train-fusion", "raav:export-fusion", "dcmmoe:train", "dcmmoe:export", "blend",
]
AFTER_BEHAVIOUR = ["behaviour:train", "behaviour:export", "raav:train-fusion", "raav:export-fusion",
                   "dcmmoe:train", "dcmmoe:export", "blend"]


class FakeRunner:
    """Stands in for the stages: a training step makes a run folder, an export writes its --out folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, argv: Sequence[str], log: Path | None = None) -> Outcome:
        with self.lock:
            self.calls.append(list(argv))
            n = len(self.calls)
        command = argv[3] if argv[1] == "-m" else argv[2]
        if "--out" in argv:
            out = Path(argv[argv.index("--out") + 1])
            out.mkdir(parents=True, exist_ok=True)
            (out / "val.npz").write_text("x" * n)  # each run writes other content
            return Outcome(0, {"out": str(out)}, [], 0.0)
        if command.startswith("train"):
            run_dir = self.root / f"run{n}"
            (run_dir / "checkpoints").mkdir(parents=True)
            (run_dir / "checkpoints" / "best.pt").write_text("w")
            (run_dir / "report.md").write_text("r")
            return Outcome(0, {"run_dir": str(run_dir)}, [], 0.0)
        return Outcome(0, {}, [], 0.0)


@pytest.fixture
def setup(tmp_path: Path):
    dataset = tmp_path / "data"
    (dataset / "annotations" / "Train_Set").mkdir(parents=True)
    (dataset / "annotations" / "Train_Set" / "a.txt").write_text("valence,arousal\n0,0\n")
    (dataset / "test_template.txt").write_text("image_location,valence,arousal\n")
    config = write_pipeline(tmp_path / "p", dataset)
    return config, FakeRunner(tmp_path / "runs")


def run_all(config: Path, runner: FakeRunner, only: str | None = None, start: str | None = None) -> list[str]:
    cfg = load_pipeline(config)
    steps = build_steps(cfg, config)
    before = len(runner.calls)
    selected, forced = selection(only, start)
    execute(steps, cfg.data, selected, forced, runner)
    named = {tuple(s.argv): s.name for s in steps}
    return [named[tuple(a[:len(a) - 2] if "--checkpoint" in a else a)] for a in runner.calls[before:]]


def test_runs_everything_then_nothing_then_what_one_key_touches(setup) -> None:
    config, runner = setup
    assert run_all(config, runner) == ALL
    assert run_all(config, runner) == []
    behaviour = config.parent / "behaviour.toml"
    behaviour.write_text(behaviour.read_text().replace("epochs = 1", "epochs = 2"))
    cfg = load_pipeline(config)
    steps = build_steps(cfg, config)
    decisions = plan(steps, read_state(state_path(cfg.data)), data_stamp(cfg.data), set(STAGES), set())
    assert [d.step.name for d in decisions if d.run] == AFTER_BEHAVIOUR
    reasons = {d.step.name: d.reason for d in decisions}
    assert reasons["behaviour:train"] == "config, overrides or command changed"
    assert reasons["raav:train-fusion"] == "reads behaviour:export, which runs first"
    assert reasons["audio:train-audio"] == "up to date"
    assert run_all(config, runner) == AFTER_BEHAVIOUR
    assert run_all(config, runner) == []


def test_export_uses_the_run_its_training_made(setup) -> None:
    config, runner = setup
    run_all(config, runner)
    state = read_state(state_path(load_pipeline(config).data))
    export = next(a for a in runner.calls if a[2] == "export" and "src_visual_dynamic_model" in a[1])
    assert export[export.index("--checkpoint") + 1] == state["face:train"]["run_dir"]


def test_a_changed_export_reruns_its_readers(setup) -> None:
    config, runner = setup
    run_all(config, runner)
    face = load_pipeline(config).data.output_root / "exports" / "face" / "val.npz"
    face.write_text("changed by hand")
    assert run_all(config, runner) == ["face:export", "raav:train-fusion", "raav:export-fusion",
                                       "dcmmoe:train", "dcmmoe:export", "blend"]


def test_from_and_only_force_their_stages(setup) -> None:
    config, runner = setup
    run_all(config, runner)
    assert run_all(config, runner, start="dcmmoe") == ["dcmmoe:train", "dcmmoe:export", "blend"]
    assert run_all(config, runner, only="face") == ["face:extract", "face:train", "face:export"]
    # face's export changed, so its readers are out of date now; the others stay skipped
    assert run_all(config, runner) == ["raav:train-fusion", "raav:export-fusion", "dcmmoe:train",
                                       "dcmmoe:export", "blend"]
    with pytest.raises(AbawError, match="unknown stage 'fac'"):
        selection("fac", None)


def test_a_failing_step_stops_with_the_command_to_rerun_it(setup) -> None:
    config, runner = setup
    cfg = load_pipeline(config)
    steps = build_steps(cfg, config)

    def failing(argv: Sequence[str], log: Path | None = None) -> Outcome:
        if argv[2] == "train":
            return Outcome(1, None, ["some output", "error: train.epochs = 0; it must be at least 1"], 0.0)
        return runner(argv, log)

    with pytest.raises(AbawError) as caught:
        execute(steps, cfg.data, set(STAGES), set(), failing)
    message = str(caught.value)
    assert message.startswith("face:train failed (exit 1): train.epochs = 0; it must be at least 1")
    assert "rerun just this step with:\n  " in message and "main.py train --config" in message
    assert list(read_state(state_path(cfg.data))) == ["face:extract"]


def test_jobs_overlap_independent_steps_and_never_start_before_what_they_read(setup) -> None:
    config, runner = setup
    cfg = load_pipeline(config)
    steps = build_steps(cfg, config)
    times: dict[str, tuple[float, float]] = {}
    names = {tuple(s.argv): s.name for s in steps}

    def timed(argv: Sequence[str], log: Path | None = None) -> Outcome:
        start = time.monotonic()
        time.sleep(0.05)
        outcome = runner(argv, log)
        name = names[tuple(argv[:len(argv) - 2] if "--checkpoint" in argv else argv)]
        times[name] = (start, time.monotonic())
        assert log == cfg.data.output_root / "pipeline" / "logs" / f"{name.replace(':', '_')}.log"
        return outcome

    state = execute(steps, cfg.data, set(STAGES), set(), timed, jobs=3)
    assert set(times) == set(ALL) and all(state[name]["ran"] for name in ALL)
    for step in steps:
        for read in set(step.reads) - {"data"}:
            assert times[read][1] <= times[step.name][0], (read, step.name)
    a, b = times["face:extract"], times["behaviour_description:segments"]
    assert a[0] < b[1] and b[0] < a[1]  # the first steps of two chains ran side by side
    assert max(sum(s <= t < e for s, e in times.values()) for t, _ in times.values()) <= 3
    assert run_all(config, runner) == []  # the parallel run left the same state as a sequential one


def test_a_failure_beside_a_running_step_lets_it_finish(setup) -> None:
    config, runner = setup
    cfg = load_pipeline(config)
    steps = build_steps(cfg, config)

    def failing(argv: Sequence[str], log: Path | None = None) -> Outcome:
        if argv[2] == "segments":
            return Outcome(1, None, ["error: no annotation files"], 0.0)
        time.sleep(0.1)  # face:extract is still running when segments fails
        return runner(argv, log)

    with pytest.raises(AbawError, match="behaviour_description:segments failed"):
        execute(steps, cfg.data, set(STAGES), set(), failing, jobs=2)
    assert list(read_state(state_path(cfg.data))) == ["face:extract"]


def test_config_errors(tmp_path: Path, setup) -> None:
    config, _ = setup
    text = config.read_text()
    config.write_text(text.replace('config = "face.toml"', 'config = "nowhere.toml"'))
    with pytest.raises(AbawError, match=r"\[face\] config = .*nowhere.toml: file not found"):
        load_pipeline(config)
    config.write_text(text.replace("samples = 200", 'sources = ["face", "lips"]'))
    with pytest.raises(AbawError, match="unknown lips"):
        load_pipeline(config)


def test_tiny_pipeline_end_to_end(tiny_dataset: Path, tmp_path: Path) -> None:
    """Every stage for real on the tiny preset, a validated blended submission and the report; then a
    second run skips every stage."""
    config = write_pipeline(tmp_path, tiny_dataset)
    command = [sys.executable, "-m", "abaw", "pipeline", "--config", str(config), "--jobs", "2", "--json"]
    # One thread per stage: the tiny models gain nothing from two, and spinning threads cost CPU when the
    # suite shares its cores.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert sorted(result["ran"]) == sorted(ALL)
    logs = config.parent / "out" / "pipeline" / "logs"
    assert sorted(p.stem for p in logs.glob("*.log")) == sorted(name.replace(":", "_") for name in ALL)
    assert result["submission_valid"] and Path(result["submission"]).is_file()
    report = Path(result["report"]).read_text()
    for name in ("training mean", "face", "behaviour", "audio", "raav", "dcmmoe", "blend"):
        assert f"| {name}" in report
    html = Path(result["report_html"]).read_text()
    assert html.count("data:image/png;base64,") == 2
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.splitlines()[-1])["ran"] == []
