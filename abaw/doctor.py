"""`abaw doctor`: check an Aff-Wild2 layout before a long run and print one summary line per check.

Checks: annotation files parse; every annotated video has a crops folder and a video file; crop counts
fit the annotation frame counts; each video's fps can be measured (cached), or, with `[data] video_timing`,
the timing CSV lists every annotated video; the test template matches the Test_Set annotations when both
exist. Only counts and headers are read, never images.

`--for` names the stages to be run: what they read must be there (errors), what they do not read is
only reported (warnings). Many users start with the crops alone, which is all the face stage needs;
the behaviour and audio stages read the videos.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abaw.affwild import (
    SPLIT_DIRS,
    FpsTable,
    SplitIndex,
    Template,
    base_video,
    find_video_file,
    fps_table_path,
    index_folder,
    read_template,
)
from abaw.config import DataConfig, load_section
from abaw.errors import AbawError
from abaw.timing import read_timing

SHOWN = 5  # offending videos listed per check
# What each stage reads besides the annotations.
NEEDS = {"face": {"crops"}, "behaviour": {"videos"}, "audio": {"videos"}, "all": {"crops", "videos"}}
FRAME_TOLERANCE = 0.01  # video frame count vs annotation lines, as a fraction, before a warning


@dataclass
class Check:
    """Outcome of one check: how many items passed, and one message per warning or error."""

    name: str
    ok: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict:
        return {"ok": self.ok, "warnings": len(self.warnings), "errors": len(self.errors), "note": self.note}


@dataclass
class Layout:
    """What the annotations and the template say: video -> (split, frame count)."""

    videos: dict[str, tuple[str, int]] = field(default_factory=dict)
    indexes: dict[str, SplitIndex] = field(default_factory=dict)
    template: Template | None = None


def check_annotations(data: DataConfig, layout: Layout) -> Check:
    check = Check("annotations")
    if not data.annotations.is_dir():
        check.errors.append(f"{data.annotations}: annotation folder not found (set [data] annotations)")
        return check
    for split, folder in SPLIT_DIRS.items():
        path = data.annotations / folder
        if not path.is_dir():
            if split != "test":  # the test split may exist only as the template
                check.errors.append(f"{path}: folder not found")
            continue
        try:
            index = index_folder(path)
        except AbawError as exc:
            check.errors.append(str(exc))
            continue
        layout.indexes[split] = index
        for video, n in zip(index.videos.tolist(), index.lengths().tolist(), strict=True):
            if video in layout.videos:
                check.errors.append(f"{video}: annotated in both {layout.videos[video][0]} and {split}")
            layout.videos[video] = (split, n)
        check.ok += len(index.videos)
    counts = ", ".join(f"{s} {len(i.videos)}" for s, i in layout.indexes.items())
    frames = sum(i.n_frames for i in layout.indexes.values())
    check.note = f"videos: {counts or 'none'}; {frames:,} frames"
    return check


def check_template(data: DataConfig, layout: Layout) -> Check:
    check = Check("template")
    if not data.test_template.is_file():
        check.warnings.append(f"{data.test_template}: test template not found; test videos are not checked")
        return check
    try:
        template = read_template(data.test_template)
    except AbawError as exc:
        check.errors.append(str(exc))
        return check
    layout.template = template
    counts = np.diff(template.offsets)
    last = np.zeros(len(template.videos), np.int64)
    np.maximum.at(last, template.video_idx, template.frames)
    check.note = f"{template.n_rows:,} rows, {len(template.videos)} videos"
    test = layout.indexes.get("test")
    if test is None:
        for video, n in zip(template.videos.tolist(), last.tolist(), strict=True):
            layout.videos.setdefault(video, ("test", n))
        check.ok = len(template.videos)
        return check
    annotated = dict(zip(test.videos.tolist(), test.lengths().tolist(), strict=True))
    for video in sorted(set(annotated) - set(template.videos.tolist())):
        check.errors.append(f"{video}: in Test_Set but not in the template")
    for video, count, top in zip(template.videos.tolist(), counts.tolist(), last.tolist(), strict=True):
        n = annotated.get(video)
        if n is None:
            check.errors.append(f"{video}: in the template but not in Test_Set")
        elif top > n:
            check.errors.append(f"{video}: template asks for frame {top}, Test_Set annotates {n} frames")
        elif count != n:
            check.warnings.append(f"{video}: template has {count} rows, Test_Set annotates {n} frames")
        else:
            check.ok += 1
    return check


def _count_crops(folder: Path) -> int | None:
    try:
        return sum(1 for name in os.listdir(folder) if name.endswith(".jpg"))
    except (FileNotFoundError, NotADirectoryError):
        return None


def check_crops(data: DataConfig, layout: Layout, required: bool = True) -> Check:
    check = Check("crops")
    missing = check.errors if required else check.warnings
    if not data.cropped_aligned.is_dir():
        why = "" if required else "; only the face stage reads them (doctor --for face)"
        missing.append(f"{data.cropped_aligned}: crops folder not found (set [data] cropped_aligned){why}")
        return check
    ratios = {}
    for video, (_, n) in layout.videos.items():
        crops = _count_crops(data.cropped_aligned / video)
        if crops is None:
            missing.append(f"{video}: no crops folder {data.cropped_aligned / video}")
        elif crops > n:
            check.errors.append(f"{video}: {crops} crops for {n} annotated frames")
        elif crops == 0:
            check.warnings.append(f"{video}: crops folder is empty")
        else:
            check.ok += 1
        if crops is not None and n:
            ratios[video] = crops / n
    if ratios:
        worst = min(ratios, key=ratios.get)
        median = float(np.median(list(ratios.values())))
        check.note = f"crops/frames median {median:.2f}, lowest {ratios[worst]:.2f} ({worst})"
    return check


def check_videos(data: DataConfig, layout: Layout, required: bool = True) -> tuple[Check, dict[Path, int]]:
    """Video file per annotated video; returns the files found with the most frames annotated on each."""
    check = Check("video files")
    missing = check.errors if required else check.warnings
    files: dict[Path, int] = {}
    if not data.videos.is_dir():
        why = "" if required else "; the behaviour and audio stages read them (doctor --for behaviour|audio)"
        missing.append(f"{data.videos}: videos folder not found (set [data] videos){why}")
        return check, files
    for video, (_, n) in layout.videos.items():
        path = find_video_file(data.videos, video)
        if path is None:
            missing.append(f"{video}: no video file {base_video(video)}.* under {data.videos}")
            continue
        files[path] = max(files.get(path, 0), n)
        check.ok += 1
    check.note = f"{len(files)} files"
    return check, files


def _check_frames(check: Check, name: str, frames: int, annotated: int) -> None:
    if abs(frames - annotated) > FRAME_TOLERANCE * annotated:
        check.warnings.append(f"{name}: {frames} video frames, {annotated} annotated")
    else:
        check.ok += 1


def check_timing(data: DataConfig, layout: Layout) -> Check:
    """`[data] video_timing` in place of probing: every annotated video needs a line with its frame count."""
    check = Check("video timing")
    try:
        timing = read_timing(data.video_timing)
    except AbawError as exc:
        check.errors.append(str(exc))
        return check
    annotated: dict[str, int] = {}
    for video, (_, n) in layout.videos.items():
        annotated[base_video(video)] = max(annotated.get(base_video(video), 0), n)
    for base, n in sorted(annotated.items()):
        if base not in timing:
            check.errors.append(f"{data.video_timing}: no line for video {base}; rerun "
                                "`python -m abaw timing` with the videos present")
            continue
        _check_frames(check, base, timing[base].frames, n)
    rates = [timing[b].fps for b in annotated if b in timing]
    if rates:
        check.note = f"fps {min(rates):.2f}-{max(rates):.2f}; from {data.video_timing}"
    return check


def check_fps(data: DataConfig, files: dict[Path, int]) -> Check:
    check = Check("fps")
    table = FpsTable.load(fps_table_path(data.output_root))
    rates = []
    for path, n in files.items():
        try:
            info = table.info(path)
        except AbawError as exc:
            check.errors.append(str(exc))
            continue
        rates.append(info.fps)
        _check_frames(check, path.name, info.frames, n)
    if table.changed:
        try:
            table.save()
        except OSError as exc:
            check.warnings.append(f"{table.path}: cannot save the fps cache ({exc.strerror})")
    if rates:
        check.note = f"fps {min(rates):.2f}-{max(rates):.2f}; cache {table.path}"
    return check


def diagnose(data: DataConfig, probe_fps: bool = True, stages: tuple[str, ...] = ("all",)) -> list[Check]:
    """Every check; `stages` (keys of NEEDS) decide whether missing crops or videos are errors."""
    needs = set().union(*(NEEDS[s] for s in stages))
    layout = Layout()
    checks = [check_annotations(data, layout), check_template(data, layout),
              check_crops(data, layout, "crops" in needs)]
    videos, files = check_videos(data, layout, "videos" in needs)
    checks.append(videos)
    if data.video_timing is not None:
        checks.append(check_timing(data, layout))
    elif probe_fps:
        checks.append(check_fps(data, files))
    return checks


def report(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check':<{width}}  {'ok':>6} {'warn':>6} {'error':>6}  note"]
    for c in checks:
        lines.append(f"{c.name:<{width}}  {c.ok:>6} {len(c.warnings):>6} {len(c.errors):>6}  {c.note}")
    for c in checks:
        for level, messages in (("error", c.errors), ("warning", c.warnings)):
            lines.extend(f"{level}: {c.name}: {m}" for m in messages[:SHOWN])
            if len(messages) > SHOWN:
                lines.append(f"{level}: {c.name}: ... and {len(messages) - SHOWN} more")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    from abaw.cli import add_command  # abaw.cli imports the command modules, so import it late

    parser = add_command(subparsers, "doctor", "check a dataset layout before a long run", run_doctor)
    parser.add_argument("--config", type=Path, required=True,
                        help="any config file with a [data] section (other sections are ignored)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a [data] key, e.g. --set data.videos=/data/videos (repeatable)")
    parser.add_argument("--for", dest="stages", action="append", choices=tuple(NEEDS),
                        help="stages you will run (repeatable; default face): what they read must exist, "
                             "the rest is a warning")
    parser.add_argument("--no-fps", action="store_true",
                        help="skip measuring the videos' frame rates (not measured with [data] video_timing)")


def run_doctor(args: argparse.Namespace) -> dict:
    data = load_section(DataConfig, args.config, "data", args.set)
    stages = tuple(args.stages or ("face",))
    checks = diagnose(data, probe_fps=not args.no_fps, stages=stages)
    print(f"checking the layout for: {', '.join(stages)}")
    print(report(checks))
    errors = sum(len(c.errors) for c in checks)
    warnings = sum(len(c.warnings) for c in checks)
    print(f"{'OK' if not errors else 'FAILED'}: {errors} errors, {warnings} warnings")
    return {"ok": errors == 0, "errors": errors, "warnings": warnings, "for": list(stages),
            "checks": {c.name: c.as_dict() for c in checks}}
