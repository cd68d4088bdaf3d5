"""Matrix tables with units scored and margins over time-aware baselines; the evaluate comparison row."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from spikebridge.experiments.compare import compare_report
from spikebridge.experiments.matrix_summary import MatrixSummary
from spikebridge.report.matrix import table_rows

NAMES = ["c1", "c2", "v1"]
PREPS = ["in_vitro", "in_vitro", "in_vivo"]


def _summary() -> MatrixSummary:
    bridge = np.array([[0.70, 0.60, 0.58], [0.62, 0.72, 0.57], [0.55, 0.56, 0.66]])
    units = np.array([[50, 50, 50], [50, 59, 59], [50, 59, 128]], dtype=float)  # real in both
    values = {
        ("bridge-bce", "roc_auc_unit_mean"): bridge,
        ("glm", "roc_auc_unit_mean"): bridge - 0.02,
        ("rate", "roc_auc_unit_mean"): np.full((3, 3), 0.5),
        ("bridge-bce", "n_units"): units,
        ("glm", "n_units"): units,
    }
    return MatrixSummary(NAMES, PREPS, values, {})


def test_units_scored_per_group_and_margin_over_a_source_baseline():
    summary = _summary()
    assert summary.group_units()["in vitro others"] == (50.0, 50.0, 50.0)
    assert summary.group_units()["in vitro -> in vivo"] == (54.5, 50.0, 59.0)
    assert summary.group_units()["in vivo self"] == (128.0, 128.0, 128.0)
    rows, models = table_rows(summary, "roc_auc_unit_mean", versus="glm")
    assert models == ["bridge-bce", "rate"]
    by_group = {g: (cells, n, units) for g, cells, n, units in rows}
    assert by_group["in vitro others"] == (["0.020 +/- 0.000", "-0.090 +/- 0.014"], 2, "50")
    assert by_group["in vitro -> in vivo"][2] == f"{54.5:.0f} (50-59)"
    assert table_rows(summary, "roc_auc_unit_mean", versus="history") == ([], ["bridge-bce", "glm", "rate"])


def _result(values: dict, n_units: int = 3):
    return SimpleNamespace(metric=lambda name: SimpleNamespace(value=values[name]), n_units=n_units)


def test_comparison_row_words_each_baseline_with_the_verdict_rule():
    results = {
        "bridge-bce": _result({"roc_auc_unit_mean": 0.70, "bits_per_spike_nlb_pooled": 0.50}),
        "history": _result({"roc_auc_unit_mean": 0.65, "bits_per_spike_nlb_pooled": 0.40}),
        "glm": _result({"roc_auc_unit_mean": 0.69, "bits_per_spike_nlb_pooled": 0.52}),
    }
    tests = [
        {"model": "bridge-bce", "against": "history", "metric": "roc_auc", "n": 40, "p_value": 1e-5,
         "p_holm": 4e-5, "effect": 0.05, "rank_biserial": 0.9},
        {"model": "bridge-bce", "against": "history", "metric": "bits_per_spike", "n": 40, "p_value": 1e-4,
         "p_holm": 3e-4, "effect": 0.1, "rank_biserial": 0.8},
        {"model": "bridge-bce", "against": "glm", "metric": "roc_auc", "n": 40, "p_value": 0.2,
         "p_holm": 0.4, "effect": 0.01, "rank_biserial": 0.2},
        {"model": "bridge-bce", "against": "glm", "metric": "bits_per_spike", "n": 40, "p_value": 1e-3,
         "p_holm": 2e-3, "effect": -0.02, "rank_biserial": -0.7},
    ]  # fmt: skip
    report = SimpleNamespace(target="rec", results=results, tests=tests)
    row = compare_report(report, "bridge-bce", ("history", "glm"))
    assert [c.verdict for c in row.comparisons] == ["beats", "beats", "is level with", "loses to"]
    assert row.verdict == "is level with glm (AUC); loses to glm (bits)"
    assert row.comparisons[1].model_value == 0.50 and row.comparisons[1].baseline_value == 0.40
    assert row.to_dict()["n_units"] == 3
    won = SimpleNamespace(target="rec", results=results, tests=tests[:2])
    assert compare_report(won, "bridge-bce", ("history",)).verdict == "beats all"
