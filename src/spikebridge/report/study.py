"""Sections of the study report, built from results (no markup): summary, recordings, evaluations, matrix.

Each function takes finished results (evaluation reports, matrix outputs, training histories,
figure files) and returns a :class:`~spikebridge.report.blocks.Section`; the study command puts them
in order and :func:`~spikebridge.report.engine.write_report` renders the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikebridge.report.blocks import Figure, Gallery, Paragraph, Plotly, Report, Section, Table
from spikebridge.report.html import (
    EVAL_COLUMNS,
    TEST_HEADER,
    TESTS_NOTE,
    format_metric,
    significance_rows,
    verdict,
)
from spikebridge.report.html import (
    caption as evaluation_caption,
)

METRIC_LABELS = {"roc_auc_pooled": "pooled ROC-AUC", "roc_auc_unit_mean": "per-unit ROC-AUC"}


def _fmt(value, spec: str) -> str:
    return "-" if value is None or value != value else format(value, spec)


def slug(text: str) -> str:
    """A section id made of letters, digits and ``-``."""
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower() or "section"


def read_histories(model_dirs: dict[str, Path]) -> dict:
    """Training histories of the models whose folder holds a ``metrics.csv`` (transformers)."""
    from spikebridge.training.history import read_history

    return {label: read_history(d) for label, d in model_dirs.items() if (Path(d) / "metrics.csv").is_file()}


def training_figure(histories: dict, title: str, what: str) -> Figure:
    """The training-curve figure (the paper's Fig. 2a-c) of ``histories`` (label -> TrainingHistory)."""
    from spikebridge.viz.training import plot_training_curves

    caption = (
        f"Training curves ({what}; compare the paper's Fig. 2a-c, which plots accuracies): (a) training "
        "loss, (b) validation loss, (c) validation ROC-AUC pooled (solid) and mean per unit (dashed). "
        "The dot marks the epoch whose weights were kept, chosen on validation only."
    )
    return Figure.from_matplotlib(plot_training_curves(histories, title=title), caption)


def datasets_section(records: Sequence[dict]) -> Section:
    """The recordings table from the study's dataset records (``RecordingSummary`` fields and more)."""
    rows = []
    for r in records:
        spikes = r["kind"] == "spikes"
        parts = " / ".join(
            f"{r.get(f'spike_fraction_{k}', float('nan')):.4f}" for k in ("fit", "val", "test")
        )
        rows.append(
            (
                r["name"],
                r["preparation"],
                r["n_units"],
                f"{r['duration_s']:.1f}",
                f"{r['mean_rate_hz']:.2f}" if spikes else "-",
                f"{r['spike_fraction']:.4f}" if spikes else "-",
                parts if spikes else "-",
            )
        )
    table = Table(
        "Recordings found under the data root",
        (
            "recording",
            "preparation",
            "units",
            "duration s",
            "rate Hz",
            "spiking bins",
            "fit / val / test spike fraction",
        ),
        tuple(rows),
        notes=("Spiking bins: fraction of (1 ms bin, unit) cells holding a spike, over all units.",),
    )
    return Section("recordings", "Recordings", (table,))


def evaluation_subsection(report, roc_pr: Path | None, histories: dict) -> Section:
    """One evaluation: its table and verdict, ROC/PR curves, training curves, then the tests (collapsed)."""
    rows = tuple((m, *(format_metric(r, k) for k, _ in EVAL_COLUMNS)) for m, r in report.results.items())
    tests = tuple(tuple(row) for row in significance_rows(report.tests))
    title = report.source if report.source == report.target else f"{report.source} → {report.target}"
    blocks: list = [
        Paragraph(evaluation_caption(report)),
        Table(
            f"Held-out test part of {report.target}: every model on the same bins",
            ("model", *(c for _, c in EVAL_COLUMNS)),
            rows,
        ),
        Paragraph(verdict(report), emphasis=True),
    ]
    if roc_pr is not None:
        caption = (
            f"ROC and precision-recall curves pooled over units on {report.target}'s test part (the paper's "
            "Fig. 2d); dotted: chance."
        )
        blocks.append(Figure.from_path(roc_pr, caption))
    if histories:
        blocks.append(training_figure(histories, title, f"neural models fitted on {report.source}"))
    blocks.append(
        Table(
            f"Significance tests on per-unit ROC-AUC ({len(tests)} tests)",
            tuple(TEST_HEADER),
            tests,
            notes=(TESTS_NOTE,),
            collapsed=True,
        )
    )
    return Section(f"eval-{slug(report.source)}-{slug(report.target)}", title, tuple(blocks))


def evaluation_section(subsections: Sequence[Section]) -> Section:
    return Section(
        "evaluation",
        "Prediction of held-out test bins: models and baselines side by side",
        (
            Paragraph(
                "Each model sees bins up to t and predicts bin t + 1 of the test part, which no model, "
                "threshold or calibration was fitted on."
            ),
        ),
        tuple(subsections),
    )


def _figure_caption(path: Path) -> str:
    stem = path.stem
    if stem.startswith("heatmap_"):
        model, _, metric = stem[len("heatmap_") :].partition("_")
        return (
            f"{model}, {METRIC_LABELS.get(metric, metric)} of every training (row) x generated (column) "
            "recording pair (the paper's Fig. 3e); white lines separate in vitro from in vivo."
        )
    if stem.startswith("groups_"):
        metric = stem[len("groups_") :]
        return f"Table 2 groups as bars, mean ± SD over cells, {METRIC_LABELS.get(metric, metric)} (the paper's Fig. 3b)."
    return stem.replace("_", " ")


def _matrix_figures(outputs: dict) -> tuple[list[Figure], list[Figure]]:
    """The matrix's PNG heatmaps and bar charts (the static proximity map is left to the 3-D one)."""
    heatmaps, bars = [], []
    for path in outputs["figures"]:
        if path.suffix == ".png" and path.stem.startswith("heatmap_"):
            heatmaps.append(Figure.from_path(path, _figure_caption(path)))
        elif path.suffix == ".png" and path.stem.startswith("groups_"):
            bars.append(Figure.from_path(path, _figure_caption(path)))
    return heatmaps, bars


def matrix_section(outputs: dict, stats: dict, histories: dict, model: str = "paper-dice") -> Section:
    """Table 2 beside the published one, our Table 2 layouts, heatmaps, bars, the 3-D map, training curves.

    ``outputs`` is what :func:`spikebridge.report.matrix.build_matrix_outputs` returns; ``histories``
    maps each source recording to the training history of its ``model``.
    """
    from spikebridge.report.published import table2_side_by_side

    summary = outputs["summary"]
    model = model if model in summary.models else next((m for m in summary.models if m != "rate"), "rate")
    tables = [table2_side_by_side(summary, model)]
    tables += [
        Table(
            title,
            ("group", *models, "cells", "units scored"),
            tuple((g, *cells, n, units) for g, cells, n, units in rows),
            collapsed=True,
        )
        for title, rows, models in outputs["tables"]
    ]
    subs = [
        Section("matrix-table2", "Table 2: published and ours", (*tables, *map(Paragraph, outputs["notes"])))
    ]
    heatmaps, bars = _matrix_figures(outputs)
    if heatmaps:
        subs.append(
            Section("matrix-heatmaps", "Heatmaps (Fig. 3e)", (Gallery("Every model and metric", heatmaps),))
        )
    if bars:
        subs.append(Section("matrix-bars", "Grouped bars (Fig. 3b)", tuple(bars)))
    if outputs.get("proximity") is not None:
        from spikebridge.viz.matrix import plot_proximity_3d

        pmap = outputs["proximity"]
        caption = (
            f"Interactive 3-D proximity map (the paper's Fig. 3f) from {pmap.label}: recordings that "
            "generate each other well sit close (distance ~ 1/score). Drag to rotate, scroll to zoom."
            + (f" {pmap.note()}; red dashed lines join those pairs." if pmap.below_chance else "")
        )
        fig = plot_proximity_3d(pmap)
        subs.append(
            Section("matrix-proximity", "Proximity map (Fig. 3f)", (Plotly.from_figure(fig, caption),))
        )
    if histories:
        fig = training_figure(histories, f"{model}, every source recording", f"{model} on each recording")
        subs.append(Section("matrix-training", "Training on every recording (Fig. 2a-c)", (fig,)))
    intro = Paragraph(
        f"{len(summary.names)} recordings; {stats['computed']['fit']} fits and {stats['computed']['score']} "
        f"scores computed, {stats['skipped']} finished cells reused, in {stats['seconds'] / 60:.1f} min."
    )
    return Section(
        "matrix", "Cross-recording generation matrix (the paper's Table 2 and Fig. 3)", (intro,), tuple(subs)
    )


@dataclass(frozen=True)
class EvaluationArtifacts:
    """What one evaluation of the study leaves for the report."""

    report: Any  # EvaluationReport
    roc_pr: Path | None
    histories: dict
    seconds: float


@dataclass(frozen=True)
class MatrixArtifacts:
    """What the study's matrix leaves for the report (``outputs`` of ``build_matrix_outputs``)."""

    outputs: dict
    stats: dict
    histories: dict
    config: dict


def study_report(
    records: Sequence[dict],
    evaluations: Sequence[EvaluationArtifacts],
    matrix: MatrixArtifacts | None,
    data_hashes: dict[str, str],
    configs: dict[str, dict],
    run_seconds: dict[str, float],
    model: str = "paper-dice",
    capabilities: Sequence[Section] = (),
) -> Report:
    """The whole study report: summary, recordings, evaluations, matrix, ``capabilities`` (one section
    per further analysis, in the given order), the paper's claims, provenance."""
    from spikebridge.experiments.claims import check_claims
    from spikebridge.report.provenance import provenance_section
    from spikebridge.report.summary import claims_section, summary_section

    reports = [e.report for e in evaluations]
    summary = matrix.outputs["summary"] if matrix is not None else None
    claims = check_claims(reports, summary, model=model)
    sections = [summary_section(reports, summary, claims, model=model), datasets_section(records)]
    if evaluations:
        subs = [evaluation_subsection(e.report, e.roc_pr, e.histories) for e in evaluations]
        sections.append(evaluation_section(subs))
    if matrix is not None:
        sections.append(matrix_section(matrix.outputs, matrix.stats, matrix.histories, model=model))
    sections += capabilities
    if claims:
        sections.append(claims_section(claims))
    sections.append(provenance_section(data_hashes, configs, run_seconds))
    return Report("spikebridge study report", tuple(sections))
