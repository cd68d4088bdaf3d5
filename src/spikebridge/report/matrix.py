"""Outputs of a finished matrix run: Table 2 rows, seed ranking, summary JSON and figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.atomic import write_text_atomic
from spikebridge.experiments.matrix_summary import MatrixSummary, summarize_matrix
from spikebridge.experiments.zoo import is_neural

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


def _units(stat: tuple[float, float, float]) -> str:
    mean, lo, hi = stat
    if not np.isfinite(mean):
        return "-"
    return f"{mean:.0f}" if lo == hi else f"{mean:.0f} ({lo:.0f}-{hi:.0f})"


def table_rows(
    summary: MatrixSummary, metric: str, margin: bool = False, versus: str | None = None
) -> tuple[list, list[str]]:
    """Rows (group, formatted cells per model, n cells, units scored) of the Table 2 grouping.

    ``margin``: each cell minus the target's own rate baseline; ``versus``: each cell minus the named
    baseline fitted on the same source and scored on the same target (that baseline's column is left out).
    """
    models = [m for m in summary.models if (m, metric) in summary.values and m != versus]
    if versus is not None and (versus, metric) not in summary.values:
        return [], models

    def values(m: str):
        if versus is not None:
            return summary.versus(m, metric, versus)
        return summary.margin(m, metric) if margin else None

    per_model = {m: summary.table2(m, metric, values(m)) for m in models}
    units = summary.group_units()
    rows = []
    for k, group in enumerate(per_model[models[0]]):
        n = max(per_model[m][k].n for m in models)
        rows.append(
            (
                group.group,
                [_fmt(per_model[m][k]) for m in models],
                n,
                _units(units.get(group.group, (np.nan,) * 3)),
            )
        )
    return rows, models


def build_matrix_outputs(
    run,
    stats: dict,
    figures: bool = True,
    proximity_model_name: str | None = None,
    proximity_metric: str = "roc_auc_unit_mean",
    proximity_margin: bool = False,
) -> dict[str, Any]:
    """Compute the summaries of a finished run and write them (JSON, PNG, HTML) into its folder.

    The proximity map is built from ``proximity_model_name`` (default: the first neural model of the
    run's models) and ``proximity_metric`` (default: mean per-unit ROC-AUC; with ``proximity_margin``,
    its margin over each target's rate baseline); cells below chance are listed in the notes.
    """
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
        for base in ("history", "glm"):
            rows, models = table_rows(summary, metric, versus=base)
            if rows:
                tables.append(
                    (f"margin over the {base} baseline fitted on the same source: {label}", rows, models)
                )
    transformers = [m for m in summary.models if is_neural(m)]
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
        model = proximity_model_name or proximity_model(run.config.models, summary)
        proximity = None if model is None else (model, proximity_metric, proximity_margin)
        figs, pmap = _write_figures(summary, out, proximity)
        if pmap is not None:
            doc["proximity"] = pmap.to_dict()
            notes.append(
                f"proximity map from {pmap.label}: Kruskal stress-1 = {pmap.stress1:.3f} (0 = distances fit exactly)"
            )
            if pmap.note():
                notes.append(pmap.note())
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


def _write_figures(summary: MatrixSummary, out: Path, proximity: tuple | None):
    import matplotlib.pyplot as plt

    from spikebridge.viz.matrix import plot_group_bars, plot_matrix_heatmap

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
    if proximity is not None:
        pmap, more = _write_proximity(summary, fig_dir, *proximity)
        paths += more
    return paths, pmap


def proximity_model(models, summary: MatrixSummary) -> str | None:
    """The model the proximity map is built from by default: the first neural model the run lists."""
    return next((m for m in models if is_neural(m) and m in summary.models), None)


def _write_proximity(summary: MatrixSummary, fig_dir: Path, model: str, metric: str, margin: bool):
    """The proximity map of ``model``'s ``metric`` (or its margin over the rate baseline): PNG and HTML."""
    import matplotlib.pyplot as plt

    from spikebridge.analysis.proximity import margin_scores, proximity_map
    from spikebridge.viz.matrix import plot_proximity, proximity_html

    values = summary.matrix(model, metric)
    if margin:
        values = margin_scores(values, summary.matrix("rate", metric))
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        return None, []
    label = f"{metric}_margin_over_rate" if margin else metric
    pmap = proximity_map(values, summary.names, summary.preparations, model=model, metric=label)
    fig = plot_proximity(pmap)
    paths = [fig_dir / "proximity_map.png", fig_dir / "proximity_map.html"]
    fig.savefig(paths[0], dpi=130)
    plt.close(fig)
    write_text_atomic(paths[1], proximity_html(pmap))
    return pmap, paths
