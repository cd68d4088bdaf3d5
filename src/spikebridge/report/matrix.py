"""Outputs of a finished matrix run: Table 2 rows, seed ranking, summary JSON and figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.atomic import write_text_atomic
from spikebridge.experiments.matrix_summary import MatrixSummary, summarize_matrix

TABLE_METRICS = (
    ("roc_auc_pooled", "pooled ROC-AUC (the paper's number)"),
    ("roc_auc_unit_mean", "per-unit ROC-AUC (mean over units)"),
    ("ap_pooled", "pooled average precision"),
)


def _fmt(stat) -> str:
    return "-" if stat.n == 0 else f"{stat.mean:.3f} +/- {stat.sd:.3f}"


def matrix_summary(run) -> MatrixSummary:
    names = [run.keys[r] for r in run.config.recordings]
    preps = [run.preps[r].info.preparation for r in run.config.recordings]
    return summarize_matrix(run.store, run.config.run, names, preps)


def table_rows(summary: MatrixSummary, metric: str, margin: bool = False) -> tuple[list, list[str]]:
    """Rows (group, formatted cells per model, n) of the Table 2 grouping for one metric."""
    models = [m for m in summary.models if (m, metric) in summary.values]
    per_model = {m: summary.table2(m, metric, summary.margin(m, metric) if margin else None) for m in models}
    rows = []
    for k, group in enumerate(per_model[models[0]]):
        rows.append(
            (group.group, [_fmt(per_model[m][k]) for m in models], max(per_model[m][k].n for m in models))
        )
    return rows, models


def build_matrix_outputs(run, stats: dict, figures: bool = True) -> dict[str, Any]:
    """Compute the summaries of a finished run and write them (JSON, PNG, HTML) into its folder."""
    summary = matrix_summary(run)
    out = Path(run.out_dir)
    tables, notes = [], []
    for metric, label in TABLE_METRICS:
        if not any((m, metric) in summary.values for m in summary.models):
            continue
        rows, models = table_rows(summary, metric)
        tables.append((f"Table 2 layout: {label}, mean +/- SD over cells", rows, models))
        rows, models = table_rows(summary, metric, margin=True)
        tables.append((f"margin over the target's own rate baseline: {label}", rows, models))
    transformers = [m for m in summary.models if m.startswith("transformer")]
    for model in transformers:
        ranked = summary.seeds(model, "roc_auc_unit_mean")
        notes.append(
            f"{model}: best seed {ranked[0][0]} ({ranked[0][1]:.3f} mean per-unit ROC-AUC on the others), "
            f"worst seed {ranked[-1][0]} ({ranked[-1][1]:.3f})"
        )
    doc = {
        "run": run.config.run,
        "config": run.config.to_dict(),
        "stats": stats,
        "names": summary.names,
        "preparations": summary.preparations,
        "matrices": {
            f"{m}|{k}": np.where(np.isfinite(v), v, None).tolist() for (m, k), v in summary.values.items()
        },
        "table2": {
            f"{m}|{k}": [g.to_dict() for g in summary.table2(m, k)]
            for (m, k) in summary.values
            if k in dict(TABLE_METRICS)
        },
        "seeds": {m: summary.seeds(m, "roc_auc_unit_mean") for m in transformers},
    }
    figs: list[Path] = []
    pmap = None
    if figures and len(summary.names) >= 2:
        figs, pmap = _write_figures(summary, out, transformers)
        if pmap is not None:
            doc["proximity"] = pmap.to_dict()
            notes.append(f"proximity map: Kruskal stress-1 = {pmap.stress1:.3f} (0 = distances fit exactly)")
    summary_path = out / "matrix_summary.json"
    write_text_atomic(summary_path, json.dumps(doc, indent=1, default=_json_default))
    return {
        "tables": tables,
        "notes": notes,
        "summary_path": summary_path,
        "figures": figs,
        "summary": summary,
        "proximity": pmap,
    }


def _json_default(value):
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _write_figures(summary: MatrixSummary, out: Path, transformers: list[str]):
    import matplotlib.pyplot as plt

    from spikebridge.analysis.proximity import proximity_map
    from spikebridge.viz.matrix import plot_group_bars, plot_matrix_heatmap, plot_proximity, proximity_html

    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for model in summary.models:
        for metric in ("roc_auc_pooled", "roc_auc_unit_mean"):
            if (model, metric) in summary.values:
                fig = plot_matrix_heatmap(summary, model, metric)
                paths.append(fig_dir / f"heatmap_{model}_{metric}.png")
                fig.savefig(paths[-1], dpi=130)
                plt.close(fig)
    for metric in ("roc_auc_pooled", "roc_auc_unit_mean"):
        groups = {m: summary.table2(m, metric) for m in summary.models if (m, metric) in summary.values}
        if groups:
            fig = plot_group_bars(groups, metric, reference=0.5)
            paths.append(fig_dir / f"groups_{metric}.png")
            fig.savefig(paths[-1], dpi=130)
            plt.close(fig)
    pmap = None
    if transformers:
        auc = summary.matrix(transformers[0], "roc_auc_pooled")
        if np.all(np.isfinite(auc)):
            pmap = proximity_map(auc, summary.names, summary.preparations)
            fig = plot_proximity(pmap, title=f"proximity map, {transformers[0]} pooled ROC-AUC")
            paths.append(fig_dir / "proximity_map.png")
            fig.savefig(paths[-1], dpi=130)
            plt.close(fig)
            paths.append(fig_dir / "proximity_map.html")
            write_text_atomic(paths[-1], proximity_html(pmap))
    return paths, pmap
