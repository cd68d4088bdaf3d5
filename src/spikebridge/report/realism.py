"""Realism outputs: the table data, the JSON record and figures, and the study report's section.

The section is data only (:mod:`spikebridge.report.blocks`); :mod:`spikebridge.report.engine` renders it.
"""

from __future__ import annotations

import json
from pathlib import Path

from spikebridge.atomic import atomic_path, write_text_atomic
from spikebridge.evaluation.realism import RealismConfig, higher_is_better, metric_names
from spikebridge.report.blocks import Figure, Paragraph, Section, Table

TableData = tuple[str, list[str], list[list[str]]]


def _cell(mean: float, sd: float, n_trials: int) -> str:
    if mean is None or mean != mean:
        return "-"
    return f"{mean:.3f}" if n_trials < 2 else f"{mean:.3f} +/- {sd:.3f}"


def realism_tables(result) -> list[TableData]:
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


def realism_section(results: list[tuple[object, list[Path]]], notes: tuple[str, ...] = ()) -> Section:
    """The report section of realism runs: per run a subsection with its table, figures and notes.

    Parameters
    ----------
    results : list of (RealismResult, figure paths)
        Figure paths as written by :func:`write_realism` (PNG files; embedded in the page).
    notes : tuple of str
        Sentences for runs that could not be made (e.g. a test part too short).
    """
    subsections = [_run_section(result, figures) for result, figures in results]
    intro = (
        "Each trial is generated after the bins that precede the test part and compared with the last "
        "S seconds of the test part, beside samples of the per-unit rate (Poisson) baseline, the coupled "
        "GLM run forward when it can be, and the first S seconds of the test part (the real-vs-real "
        "ceiling). Distances are defined in spikebridge.evaluation.realism."
    )
    blocks = [Paragraph(intro), *(Paragraph(n) for n in notes)]
    return Section("realism", "Free-running generation: realism", tuple(blocks), tuple(subsections))


def _run_section(result, figures: list[Path]) -> Section:
    ((title, header, rows),) = realism_tables(result)
    notes = list(result.notes)
    failing = [v.metric for v in result.assessment.verdicts if not v.verdict.startswith("closer")]
    if failing:
        notes.append(
            "The model is not significantly closer to real activity than the Poisson baseline on: "
            + ", ".join(failing)
        )
    blocks = [Table(title, tuple(header), tuple(tuple(r) for r in rows))]
    blocks += [Paragraph(n, emphasis=True) for n in notes]
    blocks += [Figure.from_path(p, _caption(p)) for p in figures]
    anchor = "".join(
        c if c.isalnum() or c in "-_" else "-" for c in f"realism-{result.model}-{result.target}"
    )
    return Section(anchor, f"{result.model} on {result.target}", tuple(blocks))


def _caption(path: Path) -> str:
    name = Path(path).name
    if name.startswith("realism_rasters"):
        return "Real and generated rasters side by side (first 2 s of the reference and of trial 0 of each)"
    if name.startswith("realism_statistics"):
        return "Each statistic of every candidate against the reference (trial 0)"
    return "Distances from the reference per candidate (mean +/- SD over trials)"
