"""Tidy result rows of an explanation, written to the results store (run ``"explain"``).

Metric names
------------
``attention_peak_lag[_L{k}]`` (bins), ``input_importance_peak_lag`` (bins) and
``corr_input_importance_time_input`` (mean r of input-gradient importance with the input rate) with
``..._p``, ``corr_{matrix}_{axis}_{rate}[_L{k}]`` (mean r across windows) and
``..._p`` (its two-sided p), ``influence_peak_lag``, ``influence_auc_{kind}``, ``glm_coupling_auc_{kind}``,
``ablation_{condition}_{metric}`` with the 95% interval and ``ablation_{condition}_unit_auc_p``,
``adf_stat_{bin}ms`` and ``adf_p_{bin}ms``. Layer suffixes appear for layers after the first.
"""

from __future__ import annotations

import re
from pathlib import Path

from spikebridge.experiments.store import ResultRow, ResultsStore


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def report_rows(report, data_hash: str) -> list[ResultRow]:
    """Every scalar of an :class:`~spikebridge.experiments.explain.ExplainReport` as a result row."""
    rows: list[tuple] = []
    if report.attention is not None:
        for layer in report.attention.layers:
            sfx = "" if layer.layer == 0 else f"_L{layer.layer}"
            rows.append((f"attention_peak_lag{sfx}", layer.peak_lag))
            for c in layer.correlations:
                name = "corr_" + c.label.replace("|", "_")
                rows += [(f"{name}{sfx}", c.mean_r), (f"{name}_p{sfx}", c.p_value)]
    imp = getattr(report, "importance", None)
    if imp is not None:
        c = imp.rate_correlation
        rows += [("input_importance_peak_lag", imp.peak_lag), ("corr_input_importance_time_input", c.mean_r),
                 ("corr_input_importance_time_input_p", c.p_value)]  # fmt: skip
    if report.influence is not None:
        rows.append(("influence_peak_lag", report.influence.peak_lag))
    for s in (*(report.influence.scores if report.influence else ()), *report.glm_scores):
        prefix = "influence" if s.method == "model influence" else "glm_coupling"
        rows.append((f"{prefix}_auc_{s.kind}", s.auc))
    for r in report.ablations:
        slug = _slug(r.condition)
        for metric, m in r.metrics.items():
            rows.append((f"ablation_{slug}_{metric}", m["value"], m["ci_low"], m["ci_high"]))
        if r.unit_test is not None:
            rows.append((f"ablation_{slug}_unit_auc_p", r.unit_test["p_value"]))
    for s in report.stationarity:
        rows += [(f"adf_stat_{s.bin_ms:g}ms", s.statistic), (f"adf_p_{s.bin_ms:g}ms", s.p_value)]
    config = {"checkpoint": report.checkpoint, **report.config}
    return [
        ResultRow(
            report.label, report.source, report.target, name, *values, config=config, data_hash=data_hash
        )
        for name, *values in rows
    ]


def store_report(report, path: Path) -> None:
    """Replace this explanation's cell in the results store at ``path`` (data hash: checkpoint's:target's)."""
    prov = report.provenance
    data_hash = f"{prov.get('checkpoint_data_hash', '')}:{prov.get('target_data_hash', '')}"
    cell = f"explain/{report.label}/{report.source}/{report.target}/{Path(report.checkpoint).resolve()}"
    ResultsStore(path).write_cell("explain", cell, report_rows(report, data_hash), payload=report.to_dict())
