"""`abaw pipeline`: every stage in order, each as a subprocess of its own `main.py`, then `abaw blend` and
the final report.

The order: face extract/train/export; behaviour description segments(/warmup)/describe; behaviour model
train/export; audio extract-audio/windows/train-audio/export-audio; RAAV train-fusion/export-fusion;
DCMMOE train/export; blend. The pipeline passes every location a step reads or writes on its command line
(`--set data.*` from the pipeline's `[data]`, `--out` for exports, `--checkpoint` for the run that train
made), so nothing is copied between stages and each command can be rerun by hand exactly as printed.

Skipping: after a step succeeds, `<output_root>/pipeline/state.json` records its key: a hash of the
stage config's content, the overrides and the command, plus the stamps of the steps whose outputs it
reads (and of the annotations and template for the first steps). A step's stamp is its key together
with a fingerprint of the outputs it hands on (an export folder, a training run's checkpoint), so a step
reruns when its config, its command or anything it reads changed, or its own outputs changed or vanished.
Face crops and videos are not fingerprinted (there may be millions): the stages' manifests redo the
videos that changed when a step runs; force it with `--from face`.

Steps run in order, one at a time, or with `--jobs N` up to N at once: a step starts once every step it
reads has finished, so the face, behaviour and audio chains overlap. Then each step's output goes to
`<output_root>/pipeline/logs/<step>.log` instead of the console.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, TextIO

from abaw.atomic import write_text
from abaw.config import DataConfig, load_config, read_toml
from abaw.errors import AbawError
from abaw.manifest import files_fingerprint

ROOT = Path(__file__).resolve().parent.parent  # the repository: the stages' folders live here
STATE = "state.json"
STAGES = ("face", "behaviour_description", "behaviour", "audio", "raav", "dcmmoe", "blend")
EXPORTED = ("face", "behaviour", "audio", "raav", "dcmmoe")  # stages whose exports blend and fusions read
RAAV_SECTIONS = ("fusion", "train_fusion", "export_fusion")  # audio steps ignore these sections


# ------------------------------------------------------------------------------------------------ config


@dataclasses.dataclass(frozen=True)
class StageEntry:
    """One stage: its config file and `--set` overrides added to each of its commands."""

    config: Path | None = None
    set: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class DescriptionEntry(StageEntry):
    warmup: bool = False  # run `warmup` before `describe` (only for the demo's tiny describer)


@dataclasses.dataclass(frozen=True)
class BlendEntry:
    sources: tuple[str, ...] = EXPORTED  # the stage exports blended
    seed: int = 0  # seed of the val halving (fit on one half, score on the other)
    samples: int = 2000  # Dirichlet samples per subset of three or more sources
    smooth: str = "none"  # "fit": also fit a smoothing kernel per channel


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    data: DataConfig = DataConfig()
    face: StageEntry = StageEntry()
    behaviour_description: DescriptionEntry = DescriptionEntry()
    behaviour: StageEntry = StageEntry()
    audio: StageEntry = StageEntry()
    raav: StageEntry = StageEntry()
    dcmmoe: StageEntry = StageEntry()
    blend: BlendEntry = BlendEntry()


def load_pipeline(path: Path) -> PipelineConfig:
    cfg = load_config(PipelineConfig, path)
    for name in STAGES[:-1]:
        entry = getattr(cfg, name)
        if entry.config is None:
            raise AbawError(f"{path}: [{name}] config is not set; give the stage's config file")
        if not entry.config.is_file():
            raise AbawError(f"{path}: [{name}] config = {entry.config}: file not found")
    unknown = sorted(set(cfg.blend.sources) - set(EXPORTED))
    if unknown:
        raise AbawError(f"{path}: [blend] sources: unknown {', '.join(unknown)}; use {', '.join(EXPORTED)}")
    if cfg.blend.smooth not in ("none", "fit"):
        raise AbawError(f"{path}: [blend] smooth = {cfg.blend.smooth!r}; use \"none\" or \"fit\"")
    return cfg


# ------------------------------------------------------------------------------------------------- steps


@dataclasses.dataclass(frozen=True)
class Step:
    """One command of one stage.

    `argv` lacks `--checkpoint`: a step with `checkpoint_of` gets the run directory that step's training
    recorded. `reads` are the steps whose outputs it reads; `out` is the folder it writes and hands on
    (an export), `trains` marks a training step (its run directory is what it hands on).
    """

    name: str
    stage: str
    argv: tuple[str, ...]
    config_hash: str
    reads: tuple[str, ...] = ()
    out: Path | None = None
    trains: bool = False
    checkpoint_of: str | None = None


def exports_dir(data: DataConfig) -> Path:
    return data.output_root / "exports"


def export_tables(data: DataConfig, stage: str) -> Path:
    """The folder of a stage export's `frames` tables (audio keeps them in `frames/`, RAAV too)."""
    folder = exports_dir(data) / stage
    return folder / "frames" if stage in ("audio", "raav") else folder


def data_overrides(data: DataConfig) -> list[str]:
    values = {f.name: getattr(data, f.name) for f in dataclasses.fields(DataConfig)}
    # An absolute path is never valid TOML, so `--set` keeps it as the string it is.
    return [f"data.{key}={value if value is not None else ''}" for key, value in values.items()]


def inline_table(value: dict[str, Any]) -> str:
    """A nested dict of strings as a TOML inline table, for `--set`."""
    items = [f"{k} = {inline_table(v) if isinstance(v, dict) else json.dumps(v)}" for k, v in value.items()]
    return "{" + ", ".join(items) + "}"


def config_hash(path: Path, overrides: Sequence[str], skip_sections: Sequence[str] = ()) -> str:
    """A hash of a stage config's parsed content (comments and layout do not count) and overrides."""
    raw = {k: v for k, v in read_toml(path).items() if k not in skip_sections}
    text = json.dumps({"file": str(path.resolve()), "config": raw, "set": list(overrides)}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_steps(cfg: PipelineConfig, pipeline_toml: Path, python: str = sys.executable) -> list[Step]:
    """The commands of every stage in order, with what each reads and writes."""
    data = cfg.data
    shared = data_overrides(data)
    steps: list[Step] = []

    def add(name: str, stage: str, entry: StageEntry, command: str, reads: Sequence[str] = (),
            extra: Sequence[str] = (), out: Path | None = None, trains: bool = False,
            checkpoint_of: str | None = None, skip_sections: Sequence[str] = ()) -> None:
        assert entry.config is not None
        script = ROOT / STAGE_FOLDERS[stage] / "main.py"
        overrides = [*shared, *entry.set, *extra]
        argv = [python, str(script), command, "--config", str(entry.config)]
        argv += [item for value in overrides for item in ("--set", value)]
        argv += ["--out", str(out)] if out is not None else []
        key = config_hash(entry.config, [*argv[2:3], *overrides, str(out)], skip_sections)
        steps.append(Step(name, stage, tuple(argv), key, tuple(reads), out, trains, checkpoint_of))

    face = cfg.face
    add("face:extract", "face", face, "extract", ["data"])
    add("face:train", "face", face, "train", ["face:extract"], trains=True)
    add("face:export", "face", face, "export", ["face:train"], out=exports_dir(data) / "face",
        checkpoint_of="face:train")

    desc = cfg.behaviour_description
    descriptions = data.output_root / STAGE_FOLDERS["behaviour_description"] / "descriptions"
    add("behaviour_description:segments", "behaviour_description", desc, "segments", ["data"])
    describe_reads = ["behaviour_description:segments"]
    if desc.warmup:
        add("behaviour_description:warmup", "behaviour_description", desc, "warmup")
        describe_reads.append("behaviour_description:warmup")
    add("behaviour_description:describe", "behaviour_description", desc, "describe", describe_reads)

    behaviour = cfg.behaviour
    segments = [f"input.segments={descriptions}"]
    add("behaviour:train", "behaviour", behaviour, "train", ["behaviour_description:describe"], segments,
        trains=True)
    add("behaviour:export", "behaviour", behaviour, "export", ["behaviour:train"], segments,
        out=exports_dir(data) / "behaviour", checkpoint_of="behaviour:train")

    audio = cfg.audio
    add("audio:extract-audio", "audio", audio, "extract-audio", ["data"], skip_sections=RAAV_SECTIONS)
    add("audio:windows", "audio", audio, "windows", ["audio:extract-audio"], skip_sections=RAAV_SECTIONS)
    add("audio:train-audio", "audio", audio, "train-audio", ["audio:windows"], trains=True,
        skip_sections=RAAV_SECTIONS)
    add("audio:export-audio", "audio", audio, "export-audio", ["audio:train-audio"],
        out=exports_dir(data) / "audio", checkpoint_of="audio:train-audio", skip_sections=RAAV_SECTIONS)

    raav = cfg.raav
    assert raav.config is not None
    modalities = list(read_toml(raav.config).get("fusion", {}).get("modalities", ["face", "behaviour"]))
    tables = [str(export_tables(data, m)) for m in modalities]
    fusion = [f"fusion.tables={json.dumps(tables)}",
              f"fusion.audio={exports_dir(data) / 'audio' / 'windows'}"]
    fusion_reads = [f"{m}:export" for m in modalities] + ["audio:export-audio"]
    add("raav:train-fusion", "raav", raav, "train-fusion", fusion_reads, fusion, trains=True)
    add("raav:export-fusion", "raav", raav, "export-fusion", ["raav:train-fusion", *fusion_reads], fusion,
        out=exports_dir(data) / "raav", checkpoint_of="raav:train-fusion")

    dcmmoe = cfg.dcmmoe
    assert dcmmoe.config is not None
    used = dict(read_toml(dcmmoe.config).get("modalities", {}))
    # [modalities] parses as one value, so the whole table is passed, with each frames folder replaced.
    tables = {m: {**raw, "frames": str(export_tables(data, m))} for m, raw in used.items()}
    frames = [f"modalities={inline_table(tables)}"]
    dcmmoe_reads = [EXPORT_STEP[m] for m in used]
    add("dcmmoe:train", "dcmmoe", dcmmoe, "train", dcmmoe_reads, frames, trains=True)
    add("dcmmoe:export", "dcmmoe", dcmmoe, "export", ["dcmmoe:train", *dcmmoe_reads], frames,
        out=exports_dir(data) / "dcmmoe", checkpoint_of="dcmmoe:train")

    sources = [f"{s}={export_tables(data, s) if s in ('audio', 'raav') else exports_dir(data) / s}"
               for s in cfg.blend.sources]
    argv = [python, "-m", "abaw", "blend", "--config", str(pipeline_toml.resolve())]
    argv += [item for source in sources for item in ("--source", source)]
    argv += ["--seed", str(cfg.blend.seed), "--samples", str(cfg.blend.samples), "--smooth", cfg.blend.smooth,
             "--out", str(blend_dir(data))]
    key = hashlib.sha256(json.dumps([argv[3:], shared]).encode()).hexdigest()[:16]
    steps.append(Step("blend", "blend", tuple(argv), key, tuple(EXPORT_STEP[s] for s in cfg.blend.sources),
                      blend_dir(data)))
    known = {s.name for s in steps} | {"data"}
    for step in steps:
        missing = [r for r in step.reads if r not in known]
        if missing:
            raise AbawError(f"{step.name} reads {', '.join(missing)}, which no step of the pipeline makes; "
                            "check the modalities of the fusion configs (face, behaviour, audio)")
    return steps


STAGE_FOLDERS = {
    "face": "src_visual_dynamic_model",
    "behaviour_description": "src_behavior_description",
    "behaviour": "src_behavior_model",
    "audio": "src_audio_and_fusion",
    "raav": "src_audio_and_fusion",
    "dcmmoe": "src_fusion_model",
}
EXPORT_STEP = {"face": "face:export", "behaviour": "behaviour:export", "audio": "audio:export-audio",
               "raav": "raav:export-fusion", "dcmmoe": "dcmmoe:export"}


def blend_dir(data: DataConfig) -> Path:
    return data.output_root / "blend"


# -------------------------------------------------------------------------------------------------- state


def state_path(data: DataConfig) -> Path:
    return data.output_root / "pipeline" / STATE


def read_state(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}  # an unreadable state only means every step runs again
    return state if isinstance(state, dict) else {}


def data_stamp(data: DataConfig) -> str:
    """The annotations and the test template, by name, size and time (never the crops or videos)."""
    annotations = sorted(data.annotations.rglob("*.txt")) if data.annotations.is_dir() else []
    return files_fingerprint([data.test_template, *annotations])


def outputs_fingerprint(step: Step, entry: dict[str, Any] | None) -> str | None:
    """What a step hands on, as it is on disk now: its export folder, or its training run's checkpoint."""
    if step.out is not None:
        if not step.out.is_dir():
            return "missing"
        return files_fingerprint(p for p in step.out.rglob("*") if p.is_file())
    if step.trains:
        run_dir = Path((entry or {}).get("run_dir", ""))
        return files_fingerprint([run_dir / "checkpoints" / "best.pt", run_dir / "report.md"])
    return None


def step_key(step: Step, inputs: dict[str, str | None]) -> str:
    text = json.dumps({"config": step.config_hash, "inputs": inputs}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stamp_of(key: str, outputs: str | None) -> str:
    return hashlib.sha256(f"{key}:{outputs}".encode()).hexdigest()[:16]


def current_inputs(step: Step, state: dict[str, dict[str, Any]], data: str) -> dict[str, str | None]:
    return {read: data if read == "data" else state.get(read, {}).get("stamp") for read in step.reads}


def reason_to_run(step: Step, state: dict[str, dict[str, Any]], data: str, running: set[str],
                  forced: bool) -> str | None:
    """Why `step` must run (None: it is up to date). `running` holds the steps that run before it."""
    entry = state.get(step.name)
    if forced:
        return "asked for (--only/--from)"
    if entry is None:
        return "never ran"
    upstream = [r for r in step.reads if r in running]
    if upstream:
        return f"reads {upstream[0]}, which runs first"
    if entry.get("config") != step.config_hash:
        return "config, overrides or command changed"
    inputs = current_inputs(step, state, data)
    recorded = entry.get("inputs", {})
    changed = [r for r in step.reads if recorded.get(r) != inputs[r]]
    if changed:
        return "data (annotations or template) changed" if changed[0] == "data" else f"{changed[0]} changed"
    if outputs_fingerprint(step, entry) != entry.get("outputs"):
        return "its outputs changed or are missing"
    return None


@dataclasses.dataclass(frozen=True)
class Decision:
    step: Step
    run: bool
    reason: str


def plan(steps: Sequence[Step], state: dict[str, dict[str, Any]], data: str, selected: set[str],
         forced: set[str]) -> list[Decision]:
    """What a run would do: steps of `selected` stages run when forced or out of date, others are left."""
    running: set[str] = set()
    decisions = []
    for step in steps:
        if step.stage not in selected:
            decisions.append(Decision(step, False, "not selected"))
            continue
        reason = reason_to_run(step, state, data, running, step.stage in forced)
        if reason is not None:
            running.add(step.name)
        decisions.append(Decision(step, reason is not None, reason or "up to date"))
    return decisions


# ---------------------------------------------------------------------------------------------- execution


def command_of(step: Step, state: dict[str, dict[str, Any]]) -> list[str]:
    argv = list(step.argv)
    if step.checkpoint_of is not None:
        run_dir = state.get(step.checkpoint_of, {}).get("run_dir")
        if not run_dir:
            raise AbawError(f"{step.name}: {step.checkpoint_of} has no recorded run; run the pipeline "
                            f"with --from {step.stage}")
        argv += ["--checkpoint", run_dir]
    return argv


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a finished step left: its exit code, its `--json` result, its last stderr lines and the CPU
    seconds of its processes (wall time alone misleads on a shared machine)."""

    code: int
    result: dict[str, Any] | None
    tail: list[str]
    cpu: float


def run_command(argv: Sequence[str], log: Path | None = None) -> Outcome:
    """Run one step with `--json`: its output goes to the console, or to `log` when given. The JSON line
    (its stdout's last) is kept back."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
    with open(log, "w", encoding="utf-8") if log is not None else contextlib.nullcontext() as sink:
        return stream_command(argv, env, sink)


def stream_command(argv: Sequence[str], env: dict[str, str], sink: TextIO | None) -> Outcome:
    """`run_command` with its environment and an open log file (None: the console)."""
    proc = subprocess.Popen([*argv, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, bufsize=1)
    tail: deque[str] = deque(maxlen=20)
    out, err = (sink, sink) if sink is not None else (sys.stdout, sys.stderr)
    lock = threading.Lock()

    def write(stream: TextIO, line: str) -> None:
        with lock:
            stream.write(line)
            stream.flush()

    def forward_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            write(err, line)
            tail.append(line.rstrip("\n"))

    reader = threading.Thread(target=forward_stderr, daemon=True)
    reader.start()
    assert proc.stdout is not None
    last = None
    for line in proc.stdout:
        if last is not None:
            write(out, last)
        last = line
    # wait4 gives this child's own CPU time (its reaped workers included), also when others run beside it.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    result = None
    if last is not None:
        try:
            result = json.loads(last)
        except json.JSONDecodeError:
            write(out, last)
    return Outcome(proc.returncode, result if isinstance(result, dict) else None, list(tail),
                   usage.ru_utime + usage.ru_stime)


Runner = Callable[[Sequence[str], Path | None], Outcome]


def log_path(data: DataConfig, step: Step) -> Path:
    return data.output_root / "pipeline" / "logs" / f"{step.name.replace(':', '_')}.log"


def execute(steps: Sequence[Step], data: DataConfig, selected: set[str], forced: set[str],
            runner: Runner = run_command, jobs: int = 1) -> dict[str, dict[str, Any]]:
    """Run the plan, up to `jobs` steps at once, each once every step it reads has finished; record each
    success in the state file as it finishes. Returns the state, with `ran` (True/False) set on the
    steps looked at this time. A failure starts nothing more, lets the running steps finish, then
    raises."""
    path = state_path(data)
    state = read_state(path)
    stamp = data_stamp(data)
    todo = [step for step in steps if step.stage in selected]
    unfinished = {step.name for step in todo}
    running: dict[Future, tuple[Step, list[str], Path | None, float]] = {}
    failure: AbawError | None = None
    if jobs > 1:
        (data.output_root / "pipeline" / "logs").mkdir(parents=True, exist_ok=True)

    def next_ready() -> Step | None:
        return next((s for s in todo if not set(s.reads) & unfinished), None)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while todo or running:
            while failure is None and len(running) < jobs and (step := next_ready()) is not None:
                todo.remove(step)
                reason = reason_to_run(step, state, stamp, set(), step.stage in forced)
                if reason is None:
                    print(f"[pipeline] {step.name}: up to date, skipped", flush=True)
                    state[step.name]["ran"] = False
                    unfinished.discard(step.name)
                    continue
                argv = command_of(step, state)
                log = log_path(data, step) if jobs > 1 else None
                print(f"[pipeline] {step.name}: runs ({reason})\n[pipeline]   {shlex.join(argv)}"
                      + (f"\n[pipeline]   output: {log}" if log else ""), flush=True)
                running[pool.submit(runner, argv, log)] = (step, argv, log, time.monotonic())
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                step, argv, log, start = running.pop(future)
                try:
                    record(step, argv, future.result(), time.monotonic() - start, state, stamp, path)
                except AbawError as error:
                    failure = failure or error
                    if log is not None:
                        print(f"[pipeline] {step.name}: failed; its output: {log}", flush=True)
                    continue
                unfinished.discard(step.name)
    if failure is not None:
        raise failure
    return state


def record(step: Step, argv: list[str], outcome: Outcome, seconds: float, state: dict[str, dict[str, Any]],
           stamp: str, path: Path) -> None:
    """Check a finished step and write its entry to the state file (AbawError with the command to rerun
    it when it failed)."""
    if outcome.code != 0:
        errors = [line for line in outcome.tail if line.startswith("error:")]
        said = f": {errors[-1].removeprefix('error: ')}" if errors else ""
        raise AbawError(f"{step.name} failed (exit {outcome.code}){said}\nrerun just this step with:\n"
                        f"  {shlex.join(argv)}")
    result = outcome.result
    entry: dict[str, Any] = {"config": step.config_hash, "inputs": current_inputs(step, state, stamp),
                             "seconds": round(seconds, 1), "cpu_seconds": round(outcome.cpu, 1),
                             "command": shlex.join(argv),
                             "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "result": result or {}}
    if step.trains:
        if not result or "run_dir" not in result:
            raise AbawError(f"{step.name} printed no run directory in its --json result; rerun it with:\n"
                            f"  {shlex.join(argv)}")
        entry["run_dir"] = str(result["run_dir"])
    entry["outputs"] = outputs_fingerprint(step, entry)
    entry["stamp"] = stamp_of(step_key(step, entry["inputs"]), entry["outputs"])
    state[step.name] = {**entry, "ran": True}
    write_text(path, json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "ran"}
                                 for k, v in state.items()}, indent=1, default=str) + "\n")
    print(f"[pipeline] {step.name}: done in {seconds:.1f} s ({outcome.cpu:.1f} s of CPU)", flush=True)


# ---------------------------------------------------------------------------------------------------- CLI


def parse_stages(text: str | None, option: str) -> list[str]:
    names = [s.strip() for s in (text or "").split(",") if s.strip()]
    unknown = [s for s in names if s not in STAGES]
    if unknown:
        raise AbawError(f"{option} {text}: unknown stage {unknown[0]!r}; stages: {', '.join(STAGES)}")
    return names


def selection(only: str | None, start: str | None) -> tuple[set[str], set[str]]:
    """(stages looked at, stages run even when up to date) for --only and --from."""
    if only and start:
        raise AbawError("give --only or --from, not both")
    if only:
        chosen = set(parse_stages(only, "--only"))
        return chosen, chosen
    if start:
        first = parse_stages(start, "--from")
        if len(first) != 1:
            raise AbawError(f"--from {start}: give one stage")
        chosen = set(STAGES[STAGES.index(first[0]):])
        return chosen, chosen
    return set(STAGES), set()


def print_plan(decisions: Sequence[Decision], state: dict[str, dict[str, Any]]) -> None:
    running = {d.step.name for d in decisions if d.run}
    for d in decisions:
        print(f"{'run ' if d.run else 'skip'} {d.step.name:<32} {d.reason}")
        if d.run:
            argv = list(d.step.argv)
            if d.step.checkpoint_of is not None:
                recorded = state.get(d.step.checkpoint_of, {}).get("run_dir")
                fresh = d.step.checkpoint_of in running or not recorded
                argv += ["--checkpoint", f"<the new run of {d.step.checkpoint_of}>" if fresh else recorded]
            print(f"       {shlex.join(argv)}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from abaw.final_report import print_summary, write_final_report

    cfg = load_pipeline(args.config)
    steps = build_steps(cfg, args.config)
    selected, forced = selection(args.only, args.start)
    if args.dry_run:
        state = read_state(state_path(cfg.data))
        decisions = plan(steps, state, data_stamp(cfg.data), selected, forced)
        print_plan(decisions, state)
        return {"plan": [{"step": d.step.name, "run": d.run, "reason": d.reason} for d in decisions]}
    if args.jobs < 1:
        raise AbawError(f"--jobs {args.jobs}: give 1 or more")
    if args.jobs > 1 and "OMP_NUM_THREADS" not in os.environ:
        # Steps side by side share the cores: torch threads beyond a step's share only wait and spin.
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // args.jobs))
    start = time.monotonic()
    state = execute(steps, cfg.data, selected, forced, jobs=args.jobs)
    report = write_final_report(cfg.data, state, [s.name for s in steps], cfg.blend.sources,
                                {s: export_tables(cfg.data, s) for s in EXPORTED}, blend_dir(cfg.data))
    print_summary(report)
    print(f"[pipeline] finished in {time.monotonic() - start:.1f} s; ran: "
          f"{', '.join(s for s, e in state.items() if e.get('ran')) or 'nothing (all up to date)'}")
    return {"ran": [s for s, e in state.items() if e.get("ran")], **{k: v for k, v in report.items()
                                                                     if k != "table"}}


def register(subparsers: argparse._SubParsersAction) -> None:
    from abaw.cli import add_command

    parser = add_command(subparsers, "pipeline", "run every stage in order, skip the up-to-date ones, blend "
                         "and write the final report", run)
    parser.add_argument("--config", type=Path, required=True, help="pipeline TOML (configs/pipeline.toml)")
    parser.add_argument("--only", metavar="STAGE,...", help=f"run only these stages, even when up to date "
                        f"({', '.join(STAGES)})")
    parser.add_argument("--from", dest="start", metavar="STAGE",
                        help="run this stage and every later one, even when up to date")
    parser.add_argument("--dry-run", action="store_true", help="print what would run and why; run nothing")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="run up to N steps at once, each as soon as the steps it reads are done; their "
                        "output goes to <output_root>/pipeline/logs/ (default 1: in order, on the console)")
