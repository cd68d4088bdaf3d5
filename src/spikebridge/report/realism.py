"""The realism section of the study report: data (tables, figure paths, verdicts) apart from markup."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from spikebridge.atomic import atomic_path, write_text_atomic
from spikebridge.evaluation.realism import RealismConfig, higher_is_better, metric_names

Table = tuple[str, list[str], list[list[str]]]


def _cell(mean: float, sd: float, n_trials: int) -> str:
    if mean is None or mean != mean:
        return "-"
    return f"{mean:.3f}" if n_trials < 2 else f"{mean:.3f} +/- {sd:.3f}"


def realism_tables(result) -> list[Table]:
    """One (title, header, rows) table: a row per statistic, a column per candidate, then the verdict.

    Cells are mean +/- SD over trials; "gap closed" is 0 at the Poisson floor and 1 at the
    real-vs-real ceiling; the test compares the model with the floor (two-sided).
    """
    a = result.assessment
    metrics = metric_names(RealismConfig(**a.config))
    cands = list(a.candidates.values())
    verdicts = {v.metric: v for v in a.verdicts}
    header = ["statistic", *(f"{c.name} ({c.role}, {c.n_trials})" for c in cands)]
    header += ["gap closed", "test", "p", "verdict"] if verdicts else []
    rows = []
    for m in metrics:
        row = [f"{m} ({'higher' if higher_is_better(m) else 'lower'} is closer)"]
        row += [_cell(c.mean[m], c.sd[m], c.n_trials) for c in cands]
        v = verdicts.get(m)
        if v is not None:
            gap = "-" if v.gap_closed != v.gap_closed else f"{v.gap_closed:.2f}"
            row += [gap, v.test, "-" if v.p_value is None else f"{v.p_value:.2g}", v.verdict]
        rows.append(row)
    title = (
        f"realism of {result.model} on {result.target}: {a.duration_s:g} s x {a.n_units} units against the "
        f"{a.reference}; ceiling: the {a.ceiling} (columns: candidate (role, trials); mean +/- SD over trials)"
    )
    return [(title, header, rows)]


@dataclass(frozen=True)
class RealismSection:
    """What the report shows for one realism run: tables, figure paths (relative), notes."""

    title: str
    tables: list[Table]
    figures: list[str]
    notes: list[str]

    def to_dict(self) -> dict:
        return {"title": self.title, "tables": self.tables, "figures": self.figures, "notes": self.notes}


def write_realism(result, out: Path, figures: bool = True) -> list[Path]:
    """Write ``realism_{stem}.json`` and, with ``figures``, the three PNG figures; return the paths."""
    out = Path(out)
    stem = f"{result.model}__{result.target}__{Path(result.generated_file).stem}"
    json_path = out / f"realism_{stem}.json"
    write_text_atomic(json_path, json.dumps(result.to_dict(), indent=1, default=str))
    paths = [json_path]
    if figures:
        paths += _write_figures(result, out / "figures", stem)
    return paths


def _write_figures(result, folder: Path, stem: str) -> list[Path]:
    import matplotlib.pyplot as plt

    from spikebridge.viz.realism import plot_rasters, plot_realism_distances, plot_realism_statistics

    title = f"{result.model} -> {result.target}"
    figs = {
        "rasters": plot_rasters(result.assessment.figures, title),
        "statistics": plot_realism_statistics(result.assessment.figures, title),
        "distances": plot_realism_distances(result.assessment, title),
    }
    paths = []
    for name, fig in figs.items():
        path = folder / f"realism_{name}_{stem}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)
        paths.append(path)
    return paths


def realism_section(result, figure_paths: list[str]) -> RealismSection:
    """The report's data for one realism result (figure paths as the report should link them)."""
    notes = list(result.notes)
    failing = [v.metric for v in result.assessment.verdicts if not v.verdict.startswith("closer")]
    if failing:
        notes.append(
            "The model is not significantly closer to real activity than the Poisson baseline on: "
            + ", ".join(failing)
        )
    return RealismSection(f"{result.model} on {result.target}", realism_tables(result), figure_paths, notes)


def realism_html(section: RealismSection) -> str:
    """HTML markup of a :class:`RealismSection`."""
    parts = [f"<h3>{html.escape(section.title)}</h3>"]
    for title, header, rows in section.tables:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
        )
        parts.append(f"<p>{html.escape(title)}</p><table><tr>{head}</tr>{body}</table>")
    parts += [f"<p class='verdict'>{html.escape(n)}</p>" for n in section.notes]
    parts += [f"<img src='{html.escape(p)}' alt='realism figure'>" for p in section.figures]
    return "\n".join(parts)
