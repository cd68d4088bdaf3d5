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
    ("bits_per_spike_pooled", "bits/spike"),
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


def verdict(report) -> str:
    """Plain-language comparison of the best transformer with the strongest baseline (per-unit ROC-AUC).

    "beats" needs a positive difference and a paired Wilcoxon p below 0.05; otherwise the two are
    called level, or the transformer is said to lose.
    """
    per_unit = {m: r.metric("roc_auc_unit_mean").value for m, r in report.results.items()}
    transformers = {m: v for m, v in per_unit.items() if m.startswith("transformer")}
    baselines = {m: v for m, v in per_unit.items() if not m.startswith("transformer")}
    if not transformers or not baselines:
        return ""
    best_t = max(transformers, key=transformers.get)
    best_b = max(baselines, key=baselines.get)
    diff = transformers[best_t] - baselines[best_b]
    test = next((t for t in report.tests if t["model"] == best_t and t["against"] == best_b), {})
    p = test.get("p_value")
    if diff > 0 and p is not None and p < 0.05:
        word = "beats"
    elif diff > 0:
        word = "is level with"
    else:
        word = "does not beat"
    p_text = "" if p is None else f", paired Wilcoxon over units p = {p:.2g}"
    if word == "is level with":
        p_text += ", not significant"
    return (
        f"On {report.target}, the best transformer ({best_t}, per-unit ROC-AUC {transformers[best_t]:.3f}) "
        f"{word} the strongest baseline ({best_b}, {baselines[best_b]:.3f}); difference {diff:+.3f}{p_text}."
    )


def relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when it lies inside it, else ``path`` as given."""
    try:
        return str(Path(path).resolve().relative_to(Path(base).resolve()))
    except ValueError:
        return str(path)
