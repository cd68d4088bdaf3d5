"""The study's small summary of results (JSON kept in the repository), from which the README's result
sections are rendered (:mod:`spikebridge.report.readme`).

It holds numbers only, never per-bin data: per evaluation the test part's size, the bootstrap block,
each model's headline metrics with their intervals and the significance-test records (verdict
sentences are written from them at render time, by :mod:`spikebridge.evaluation.verdict`); per matrix
the Table 2 group statistics and the proximity map's model, metric, stress and below-chance cells.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.atomic import write_text_atomic
from spikebridge.provenance import stamp

SCHEMA = 1
SUMMARY_METRICS = (
    "roc_auc_pooled",
    "roc_auc_unit_mean",
    "ap_pooled",
    "ap_unit_mean",
    "bits_per_spike_nlb_pooled",
    "bits_per_spike_train_pooled",
    "bits_per_spike_nlb_cal_one_map",
    "bits_per_spike_nlb_cal_unit_maps",
    "tpr",
    "tnr",
)
TEST_KEYS = (
    "model",
    "against",
    "metric",
    "n",
    "n_dropped",
    "p_value",
    "p_holm",
    "effect",
    "rank_biserial",
    "note",
)
MATRIX_METRICS = ("roc_auc_unit_mean", "roc_auc_pooled")


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return round(x, 6) if np.isfinite(x) else None


def evaluation_entry(report) -> dict[str, Any]:
    """The summary of one :class:`~spikebridge.experiments.evaluate.EvaluationReport`."""
    first = next(iter(report.results.values()))
    auc = next(u for u in first.summaries if u.metric == "roc_auc")
    models = {}
    for name, res in report.results.items():
        have = {m.name: m for m in res.metrics}
        models[name] = {
            "metrics": {
                k: [_num(have[k].value), _num(have[k].ci_low), _num(have[k].ci_high)]
                for k in SUMMARY_METRICS
                if k in have
            },
            "bits_source": res.bits_source,
        }
    return {
        "source": report.source,
        "target": report.target,
        "n_bins": first.n_bins,
        "n_units": first.n_units,
        "n_scored_units": auc.n_scored,
        "n_spikes": first.n_spikes,
        "chance": _num(report.chance),
        "level": first.level,
        "n_boot": first.bootstrap.get("n_boot"),
        "block": first.bootstrap.get("block_choice") or {"bins": first.bootstrap.get("block_len")},
        "models": models,
        "tests": [{k: t.get(k) for k in TEST_KEYS} for t in report.tests],
    }


def matrix_entry(outputs: dict, stats: dict) -> dict[str, Any]:
    """The summary of a finished matrix from :func:`~spikebridge.report.matrix.build_matrix_outputs`."""
    summary = outputs["summary"]
    table: dict[str, dict[str, list]] = {}
    for metric in MATRIX_METRICS:
        for model in summary.models:
            if (model, metric) in summary.values:
                groups = [g.to_dict() for g in summary.table2(model, metric)]
                table.setdefault(metric, {})[model] = [
                    {**g, "mean": _num(g["mean"]), "sd": _num(g["sd"])} for g in groups
                ]
    below = {
        model: int(np.sum(summary.matrix(model, "roc_auc_unit_mean") < 0.5))
        for model in summary.models
        if (model, "roc_auc_unit_mean") in summary.values
    }
    pmap = outputs.get("proximity")
    return {
        "names": list(summary.names),
        "preparations": list(summary.preparations),
        "models": list(summary.models),
        "fits": stats["computed"]["fit"],
        "scores": stats["computed"]["score"],
        "reused": stats["skipped"],
        "fits_from_store": stats.get("from_store", 0),
        "minutes": round(stats["seconds"] / 60, 1),
        "table2": table,
        "units_scored": {
            group: [_num(v) for v in values] for group, values in summary.group_units().items()
        },  # per group: mean, smallest, largest number of units a cell scored
        "cells_below_chance_unit_auc": below,
        "proximity": None
        if pmap is None
        else {
            "model": pmap.model,
            "metric": pmap.metric,
            "stress1": _num(pmap.stress1),
            "below_chance": [[s, t, _num(v)] for s, t, v in pmap.below_chance],
        },
    }


def study_summary(
    reports: list,
    matrix_outputs: dict | None,
    matrix_stats: dict | None,
    settings: dict,
    minutes: float,
    stage_minutes: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The whole study's summary: settings, provenance, evaluations and (optionally) the matrix.

    Parameters
    ----------
    reports : list of EvaluationReport
    matrix_outputs, matrix_stats : dict or None
        ``build_matrix_outputs(...)`` and ``MatrixRun.execute(...)`` of the matrix (None: no matrix).
    settings : dict
        The study's options (profile, seed, n_boot, ...).
    minutes : float
        Wall time of the whole study.
    stage_minutes : dict, optional
        Wall minutes of each stage of this run, in run order; stored with the machine's CPU count.
    """
    prov = stamp()
    return {
        "schema": SCHEMA,
        "settings": dict(settings),
        "package_version": prov["package_version"],
        "git_commit": prov["git_commit"],
        "created_at": prov["created_at"],
        "minutes": round(minutes, 1),
        "stage_minutes": dict(stage_minutes or {}),
        "cpu_cores": os.cpu_count(),
        "evaluations": [evaluation_entry(r) for r in reports],
        "matrix": None if matrix_outputs is None else matrix_entry(matrix_outputs, matrix_stats),
    }


def write_study_summary(path: str | Path, summary: dict) -> Path:
    """Write the summary as indented JSON, atomically."""
    path = Path(path)
    write_text_atomic(path, json.dumps(summary, indent=1, sort_keys=False) + "\n")
    return path
