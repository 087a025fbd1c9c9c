"""The pipeline's final report: `<output_root>/report.md` and a self-contained `report.html` (images inline).

Every stage export and the blend are scored on the whole validation split against the training-mean
baseline and the face features' frame-wise ridge (from the face training run). The blend's own whole-val
score uses weights refitted on all of val, so it is in-sample; the honest comparison is on the half of the
val videos the blend did not fit on, where every single source is scored too (the leaderboard).
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from abaw.atomic import write_text
from abaw.config import DataConfig
from abaw.report import markdown_table

TRACE_VIDEOS = 4


@dataclass
class Scored:
    """One prediction source on the whole validation split."""

    name: str
    score: dict[str, float]
    per_video: pd.DataFrame
    aligned: np.ndarray  # [N, 2] on the annotation rows


@dataclass
class Report:
    """The report's parts, rendered both as Markdown and as HTML."""

    blocks: list[tuple[str, Any]] = field(default_factory=list)  # ("h2"|"p"|"table"|"image", content)

    def add(self, kind: str, content: Any) -> None:
        self.blocks.append((kind, content))

    def markdown(self, title: str) -> str:
        lines = [f"# {title}", ""]
        for kind, content in self.blocks:
            if kind == "h2":
                lines += [f"## {content}", ""]
            elif kind == "p":
                lines += [content, ""]
            elif kind == "table":
                lines += [markdown_table(content), ""]
            else:
                lines += [f"![{Path(content).stem}]({Path(content).name})", ""]
        return "\n".join(lines)

    def html(self, title: str) -> str:
        body = [f"<h1>{html.escape(title)}</h1>"]
        for kind, content in self.blocks:
            if kind == "h2":
                body.append(f"<h2>{html.escape(content)}</h2>")
            elif kind == "p":
                body.append(f"<p>{html.escape(content).replace('`', '')}</p>")
            elif kind == "table":
                head = "".join(f"<th>{html.escape(str(c))}</th>" for c in content.columns)
                rows = "".join("<tr>" + "".join(f"<td>{html.escape(_text(v))}</td>" for v in row) + "</tr>"
                               for row in content.itertuples(index=False))
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            else:
                data = base64.b64encode(Path(content).read_bytes()).decode()
                alt = html.escape(Path(content).stem)
                body.append(f'<img alt="{alt}" src="data:image/png;base64,{data}">')
        style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
                 "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
                 "td{text-align:right}img{max-width:100%}")
        return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
                f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def _text(value: Any) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.4f}"
    return str(value)


def score_source(data: DataConfig, name: str, folder: Path) -> Scored:
    """A source's predictions aligned on the val annotation frames, scored whole and per video."""
    from abaw.blend import Source, align_sources, reference
    from abaw.evaluate import per_video_scores
    from abaw.metrics import va_score

    ref = reference(data, "val")
    aligned = align_sources([Source(name, {"val": folder / "val.npz"})], ref)[0]
    labels = ref.index.labels
    covered = np.ones(len(labels), bool)
    return Scored(name, va_score(aligned, labels), per_video_scores(ref.index, aligned, covered), aligned)


def baseline_score(data: DataConfig) -> dict[str, float]:
    from abaw.affwild import index_split
    from abaw.baseline import train_mean
    from abaw.metrics import va_score

    labels = index_split(data.annotations, "val").labels
    return va_score(np.broadcast_to(train_mean(data), labels.shape).copy(), labels)


def score_row(name: str, score: dict[str, float], note: str = "") -> dict[str, Any]:
    return {"model": name, "valence": score["ccc_valence"], "arousal": score["ccc_arousal"],
            "mean": score["score"], "note": note}


def plot_distributions(path: Path, scored: list[Scored]) -> Path:
    from abaw.plots import draw_ccc_distribution, new_figure, save_figure

    fig = new_figure(3.2 * len(scored), 4.0)
    axes = fig.subplots(1, len(scored), squeeze=False)[0]
    for ax, item in zip(axes, scored, strict=True):
        draw_ccc_distribution(ax, {"valence": item.per_video["ccc_valence"].to_numpy(),
                                   "arousal": item.per_video["ccc_arousal"].to_numpy()}, title=item.name)
    return save_figure(fig, path)


def plot_traces(path: Path, data: DataConfig, scored: list[Scored]) -> Path:
    """The same validation videos (the longest ones), one row each: every source against the truth,
    valence left and arousal right."""
    from abaw.affwild import index_split
    from abaw.plots import VA_NAMES, new_figure, save_figure

    index = index_split(data.annotations, "val")
    chosen = sorted(np.argsort(-np.diff(index.offsets), kind="stable")[:TRACE_VIDEOS])
    fig = new_figure(14.0, 2.8 * len(chosen))
    axes = fig.subplots(len(chosen), 2, squeeze=False)
    for row, v in enumerate(chosen):
        rows = slice(index.offsets[v], index.offsets[v + 1])
        frames = index.frames[rows]
        for c, name in enumerate(VA_NAMES):
            ax = axes[row, c]
            for item in scored:
                ax.plot(frames, item.aligned[rows, c], linewidth=0.8, label=item.name)
            ax.plot(frames, index.labels[rows, c], color="black", linewidth=1.6, label="truth")
            ax.set_ylim(-1.05, 1.05)
            ax.set_title(f"{index.videos[v]}: {name}", fontsize="medium")
            ax.set_xlabel("frame")
    axes[0, 1].legend(loc="upper right", fontsize="small", ncol=2, framealpha=0.6)
    return save_figure(fig, path)


def write_final_report(data: DataConfig, state: dict[str, dict[str, Any]], steps: list[str],
                       blended: tuple[str, ...], tables: dict[str, Path], blend_out: Path) -> dict[str, Any]:
    """Write `<output_root>/report.md` and `report.html`; the stages not exported yet are left out."""
    from abaw.submission import validate_submission

    out = data.output_root
    scored = [score_source(data, name, folder) for name, folder in tables.items()
              if (folder / "val.npz").is_file()]
    summary_path = blend_out / "blend.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    if summary is not None:
        scored.append(score_source(data, "blend", blend_out))
    rows = [score_row("training mean (abaw baseline)", baseline_score(data), "floor")]
    ridge = state.get("face:train", {}).get("result", {})
    if "ridge_score" in ridge:
        ridge_score = {"ccc_valence": ridge["ridge_ccc_valence"], "ccc_arousal": ridge["ridge_ccc_arousal"],
                       "score": ridge["ridge_score"]}
        rows.append(score_row("frame-wise ridge of face features", ridge_score, "from the face training run"))
    for item in scored:
        note = "weights refitted on all of val: in-sample" if item.name == "blend" else "whole val"
        rows.append(score_row(item.name, item.score, note))
    table = pd.DataFrame(rows).round(4)

    report = Report()
    report.add("h2", "Validation scores (CCC)")
    report.add("table", table)
    result: dict[str, Any] = {"table": table}
    if summary is not None:
        board = pd.read_csv(summary["leaderboard"])
        singles = board[board["sources"] == 1]
        best_single = singles.loc[singles["eval_score"].idxmax()]
        chosen = board[board["chosen"]].iloc[0]
        verdict = ("at least as good as" if chosen["eval_score"] >= best_single["eval_score"] - 1e-9
                   else "WORSE than")
        report.add("h2", "Blend")
        report.add("p", f"Protocol: {summary['protocol']}. The subset with the best fit score was chosen "
                        f"({summary['chosen']}), without looking at the held-out half. On the held-out half "
                        f"it scores {chosen['eval_score']:.4f}, {verdict} the best single source there "
                        f"({best_single['subset']}, {best_single['eval_score']:.4f}). The submission uses "
                        f"weights refitted on all of val.")
        columns = ["subset", "chosen", "fit_score", "eval_score", "eval_valence", "eval_arousal"]
        report.add("table", board[columns].head(8).round(4))
        submission = Path(summary["submission"])
        problems = validate_submission(data.test_template, submission)
        report.add("h2", "Submission")
        report.add("p", f"`{submission}`: " + ("validated against the test template." if not problems
                                               else "INVALID: " + "; ".join(problems[:3])))
        result.update({"submission": str(submission), "submission_valid": not problems,
                       "blend_chosen": summary["chosen"], "blend_eval_score": float(chosen["eval_score"]),
                       "best_single_eval": str(best_single["subset"]),
                       "best_single_eval_score": float(best_single["eval_score"])})
    if scored:
        report.add("h2", "Per-video CCC on val")
        report.add("image", plot_distributions(out / "report_ccc.png", scored))
        report.add("h2", f"VA traces of {TRACE_VIDEOS} validation videos")
        report.add("image", plot_traces(out / "report_traces.png", data, scored))
    times = pd.DataFrame([{"step": s, "seconds": state[s].get("seconds", float("nan")),
                           "CPU seconds": state[s].get("cpu_seconds", float("nan")),
                           "this time": "ran" if state[s].get("ran") else "skipped (up to date)",
                           "finished": state[s].get("finished", "")} for s in steps if s in state])
    if not times.empty:
        report.add("h2", "Wall time of each step (its last run)")
        report.add("table", times)
        report.add("p", f"Total of the last runs: {times['seconds'].sum():.0f} s of wall time, "
                        f"{times['CPU seconds'].sum():.0f} s of CPU time (all processes of each step).")
    title = "Valence/arousal: every stage and the blend"
    write_text(out / "report.md", report.markdown(title))
    write_text(out / "report.html", report.html(title))
    result.update({"report": str(out / "report.md"), "report_html": str(out / "report.html")})
    return result


def print_summary(report: dict[str, Any]) -> None:
    print(markdown_table(report["table"]))
    if "submission" in report:
        print(f"blend: {report['blend_chosen']} scores {report['blend_eval_score']:.4f} on the held-out val "
              f"half; best single source there: {report['best_single_eval']} "
              f"{report['best_single_eval_score']:.4f}")
        state = "validated" if report["submission_valid"] else "INVALID"
        print(f"submission ({state}): {report['submission']}")
    print(f"report: {report['report']} (and {Path(report['report_html']).name})")
