"""One model against the baselines on several recordings: values, paired tests and verdicts per recording.

For every evaluated recording the table holds the model's and each baseline's per-unit ROC-AUC
(mean over units) and bits per spike (pooled), and for each baseline the paired two-sided Wilcoxon
test over units of the per-unit values (median difference, p value and Holm-adjusted p value). Each
comparison is worded by the project's one verdict rule
(:func:`spikebridge.evaluation.verdict.verdict_from_test`: two-sided, Holm-adjusted over the
evaluation's tests, alpha 0.05); a recording's verdict says whether the model beats every baseline on
both metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from spikebridge.evaluation.verdict import verdict_from_test

METRICS = (("roc_auc", "roc_auc_unit_mean", "per-unit ROC-AUC"),
           ("bits_per_spike", "bits_per_spike_nlb_pooled", "bits/spike (NLB)"))  # fmt: skip
SHORT = {"roc_auc": "AUC", "bits_per_spike": "bits"}
WIN = "beats"


@dataclass(frozen=True)
class Comparison:
    """The model against one baseline on one metric of one recording."""

    baseline: str
    metric: str
    model_value: float
    baseline_value: float
    effect: float | None
    p_value: float | None
    p_holm: float | None
    n: int
    verdict: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ComparisonRow:
    """One recording: units scored, the comparisons, and the overall verdict."""

    recording: str
    model: str
    n_units: int
    comparisons: tuple[Comparison, ...]

    @property
    def verdict(self) -> str:
        """``"beats all"`` (better than every baseline on both metrics), or the comparisons that are not wins."""
        misses = [
            f"{c.verdict} {c.baseline} ({SHORT[c.metric]})" for c in self.comparisons if c.verdict != WIN
        ]
        return "beats all" if not misses else "; ".join(misses)

    def to_dict(self) -> dict:
        return {"recording": self.recording, "model": self.model, "n_units": self.n_units, "verdict": self.verdict,
                "comparisons": [c.to_dict() for c in self.comparisons]}  # fmt: skip


def compare_report(report, model: str, baselines: tuple[str, ...]) -> ComparisonRow:
    """The comparison row of one :class:`~spikebridge.experiments.evaluate.EvaluationReport`."""
    tests = {(t["model"], t["against"], t.get("metric", "roc_auc")): t for t in report.tests}
    res = report.results[model]
    rows = []
    for base in baselines:
        for key, summary, _ in METRICS:
            test = tests.get((model, base, key))
            word = verdict_from_test(test, metric=key).word if test else "untested"
            test = test or {}
            rows.append(Comparison(
                base, key, _value(res, summary), _value(report.results[base], summary), test.get("effect"),
                test.get("p_value"), test.get("p_holm"), int(test.get("n") or 0), word,
            ))  # fmt: skip
    return ComparisonRow(report.target, model, res.n_units, tuple(rows))


def _value(result, name: str) -> float:
    value = result.metric(name).value
    return float("nan") if value is None else float(value)
