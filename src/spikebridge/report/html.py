"""Small helpers shared by the CLI tables and the report: metric cells, the verdict sentence, paths.

The report itself is rendered from :mod:`spikebridge.report.blocks` by :mod:`spikebridge.report.engine`.
"""

from __future__ import annotations

import html
from pathlib import Path

EVAL_COLUMNS = (
    ("roc_auc_pooled", "pooled ROC-AUC"),
    ("roc_auc_unit_mean", "per-unit ROC-AUC"),
    ("ap_pooled", "pooled AP"),
    ("ap_unit_mean", "per-unit AP"),
    ("bits_per_spike_nlb_pooled", "bits/spike (NLB null)"),
    ("bits_per_spike_train_pooled", "bits/spike (train-rate null)"),
    ("tpr", "TPR"),
    ("tnr", "TNR"),
)


def _table(header: list[str], rows: list[list[str]]) -> str:
    """An escaped HTML table (kept for callers that build HTML fragments; the report uses ``blocks.Table``)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def format_metric(res, name: str) -> str:
    """``value [low, high]`` of one metric of an EvaluationResult (``-`` when undefined)."""
    m = res.metric(name)
    if m.value is None or m.value != m.value:
        return "-"
    if m.ci_low is None or m.ci_low != m.ci_low:
        return f"{m.value:.3f}"
    return f"{m.value:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}]"


def block_text(result) -> str:
    """How long the bootstrap blocks of an EvaluationResult were and how they were chosen."""
    from spikebridge.evaluation.bootstrap import BlockLength

    boot = result.bootstrap
    choice = boot.get("block_choice")
    if choice:
        return BlockLength(**choice).describe()
    seconds = boot.get("block_s")
    return f"{seconds:.1f} s blocks (given)" if seconds else f"blocks of {boot['block_len']} bins (given)"


def caption(report) -> str:
    """The plain-text caption of an evaluation table: sizes, chance, intervals, bits/spike nulls, unscored units."""
    first = next(iter(report.results.values()))
    level = int(round(100 * first.level))
    auc = next((u for u in first.summaries if u.metric == "roc_auc"), None)
    left_out = (
        ""
        if auc is None
        else (
            f" Per-unit means are over units with a test spike and a non-spike ({auc.n_scored} of "
            f"{auc.n_units}; the {auc.n_units - auc.n_scored} others are left out and counted)."
        )
    )
    calibrated = [m for m, r in report.results.items() if r.bits_source.startswith("scores calibrated")]
    bits = (
        "bits/spike: NLB null = each unit's mean rate over these test bins (train-rate null beside it); "
        "model probabilities uncalibrated"
        + (
            f", except {', '.join(calibrated)}: scores calibrated on the validation part (one map)"
            if calibrated
            else ""
        )
        + "."
    )
    return (
        f"{first.n_bins} test bins x {first.n_units} units, {first.n_spikes} spikes; chance AP = spike "
        f"probability = {report.chance:.4f}. Intervals: {level}% block bootstrap over time, "
        f"{block_text(first)}. {bits}{left_out}"
    )


def verdict(report) -> str:
    """The best neural model against the strongest baseline (mean per-unit ROC-AUC), in the verdict's words.

    The words come from :func:`spikebridge.evaluation.verdict.verdict_from_test` (two-sided paired
    Wilcoxon over units, Holm-adjusted over the evaluation's tests), like every other comparison.
    """
    from spikebridge.evaluation.verdict import verdict_from_test
    from spikebridge.experiments.zoo import is_neural

    per_unit = {m: r.metric("roc_auc_unit_mean").value for m, r in report.results.items()}
    transformers = {m: v for m, v in per_unit.items() if is_neural(m)}
    baselines = {m: v for m, v in per_unit.items() if m not in transformers}
    if not transformers or not baselines:
        return ""
    best_t = max(transformers, key=transformers.get)
    best_b = max(baselines, key=baselines.get)
    test = next((t for t in report.tests if t["model"] == best_t and t["against"] == best_b
                 and t.get("metric", "roc_auc") == "roc_auc"), None)  # fmt: skip
    if test is None:
        return ""
    return (
        f"On {report.target}, the best neural model by mean per-unit ROC-AUC is {best_t} "
        f"({transformers[best_t]:.3f}) and the strongest baseline {best_b} ({baselines[best_b]:.3f}): "
        + verdict_from_test(test).sentence()
    )


def _p(value) -> str:
    return "-" if value is None else f"{value:.2g}"


def significance_rows(tests: list[dict]) -> list[list]:
    """Rows (model, against, n, p, p Holm, median effect, verdict) of significance-test records."""
    from spikebridge.evaluation.verdict import verdict_from_test

    return [
        [t["model"], t["against"], t["n"], _p(t.get("p_value")), _p(t.get("p_holm")),
         "-" if t.get("effect") is None else f"{t['effect']:+.4f}", verdict_from_test(t).word]
        for t in tests
    ]  # fmt: skip


TEST_HEADER = ["model", "against", "n units", "p (two-sided)", "p (Holm)", "median effect", "verdict"]
TESTS_NOTE = (
    "Per-unit ROC-AUC, two-sided Wilcoxon signed-rank tests paired over units; p-values also Holm-adjusted "
    "over this table, and the verdict uses the adjusted value at alpha = 0.05."
)


def relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when it lies inside it, else ``path`` as given."""
    try:
        return str(Path(path).resolve().relative_to(Path(base).resolve()))
    except ValueError:
        return str(path)
