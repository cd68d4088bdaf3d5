"""Scoring of QuantFormer against its baselines on one test part: metric tables, paired tests, verdicts.

Tests are two-sided Wilcoxon signed-rank tests of the per-neuron mean metric, paired over neurons
(QuantFormer minus baseline, on the same test windows). A verdict is "beats" / "loses to" when
p < 0.05 and the median difference favours / disfavours QuantFormer, "is level with" otherwise, and
"untestable" when no neuron has both values (e.g. normalised metrics of a constant forecast).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikebridge.evaluation.forecasting import (
    FORECAST_METRICS,
    LOWER_IS_BETTER,
    MetricSummary,
    per_neuron_means,
    summarise,
    summarise_classification,
    trace_metrics,
)
from spikebridge.evaluation.stats import versus_baseline
from spikebridge.experiments.store import ResultRow
from spikebridge.preprocess.calcium import Observations

MODEL = "quantformer"
SCALES = ("raw", "norm")
VERDICT_METRICS = ("raw/mse", "raw/pearson")


def metric_keys() -> list[str]:
    """``raw/mse``, ..., ``norm/ssim``: every forecasting metric on raw and derivative-normalised traces."""
    return [f"{scale}/{m}" for scale in SCALES for m in FORECAST_METRICS]


def score_forecasts(
    forecasts: dict[str, np.ndarray], test: Observations, n_boot: int, seed: int
) -> tuple[dict[str, dict[str, MetricSummary]], dict[str, dict[str, np.ndarray]]]:
    """Summaries (model -> key -> MetricSummary) and per-neuron means (model -> key -> (n_neurons,))."""
    summaries: dict[str, dict[str, MetricSummary]] = {}
    per_neuron: dict[str, dict[str, np.ndarray]] = {}
    for model, pred in forecasts.items():
        summaries[model], per_neuron[model] = {}, {}
        for scale in SCALES:
            values = trace_metrics(pred, test.response, normalised=scale == "norm")
            for metric, v in values.items():
                key = f"{scale}/{metric}"
                summaries[model][key] = summarise(v, test.neuron, n_boot=n_boot, seed=seed)
                per_neuron[model][key] = per_neuron_means(v, test.neuron, test.n_neurons)
    return summaries, per_neuron


def verdict(test: dict[str, Any], lower_is_better: bool) -> str:
    """``beats`` / ``loses to`` / ``is level with`` from a paired two-sided test; ``untestable`` without pairs.

    The words come from :func:`spikebridge.evaluation.verdict.verdict`, the rule of every comparison;
    the median difference is signed so that positive favours QuantFormer.
    """
    from spikebridge.evaluation.verdict import verdict as verdict_rule

    effect = test.get("effect")
    if test.get("n", 0) == 0 or effect is None:
        return "untestable"
    return verdict_rule(-effect if lower_is_better else effect, test.get("p_value"))


def compare(per_neuron: dict[str, dict[str, np.ndarray]], model: str = MODEL) -> list[dict[str, Any]]:
    """The model against every other entry, on every metric key: test fields plus ``verdict``."""
    out = []
    for base in (b for b in per_neuron if b != model):
        for key in metric_keys():
            res = versus_baseline(per_neuron[model][key], per_neuron[base][key], metric=key, over="neurons",
                                  alternative="two-sided").to_dict()  # fmt: skip
            lower = LOWER_IS_BETTER[key.split("/")[1]]
            out.append(
                {"model": model, "against": base, "metric": key, **res, "verdict": verdict(res, lower)}
            )
    return out


def verdict_lines(tests: list[dict[str, Any]], keys: tuple[str, ...] = VERDICT_METRICS) -> list[str]:
    """One sentence per baseline and key, e.g. 'QuantFormer beats psth on raw/mse (p = 0.003, n = 40 neurons)'."""
    lines = []
    for t in tests:
        if t["metric"] not in keys:
            continue
        p = "-" if t.get("p_value") is None else f"{t['p_value']:.2g}"
        effect = "-" if t.get("effect") is None else f"{t['effect']:+.4g}"
        lines.append(f"QuantFormer {t['verdict']} {t['against']} on {t['metric']} "
                     f"(median paired difference {effect}, p = {p}, n = {t['n']} neurons)")  # fmt: skip
    return lines


def score_classifiers(
    predictions: dict[str, np.ndarray], test: Observations, n_boot: int, seed: int
) -> dict[str, dict[str, MetricSummary]]:
    """Balanced accuracy, precision, recall, F1 of every classifier's boolean predictions (n,)."""
    return {
        m: summarise_classification(p, test.active, test.neuron, n_boot, seed) for m, p in predictions.items()
    }


def rows(
    name: str,
    forecast: dict[str, dict[str, MetricSummary]],
    classify: dict[str, dict[str, MetricSummary]],
    extra: dict[str, float],
    config: dict[str, Any],
    data_hash: str,
) -> list[ResultRow]:
    """Tidy store rows: ``forecast/<scale>/<metric>``, ``classify/<metric>`` and QuantFormer's extras."""
    out = []
    for prefix, table in (("forecast", forecast), ("classify", classify)):
        for model, metrics in table.items():
            for key, s in metrics.items():
                out.append(ResultRow(model, name, name, f"{prefix}/{key}", s.value, s.ci_low, s.ci_high, config,
                                     data_hash))  # fmt: skip
    out += [
        ResultRow(MODEL, name, name, key, value, config=config, data_hash=data_hash)
        for key, value in extra.items()
    ]
    return out
