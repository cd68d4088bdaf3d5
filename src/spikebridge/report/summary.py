"""The report's opening section: headline numbers beside their baselines, and the paper's claims checked."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spikebridge.report.blocks import Claim, Paragraph, Section, Table
from spikebridge.report.html import format_metric, verdict
from spikebridge.report.published import mean_sd_text

HEADLINE = (
    ("roc_auc_unit_mean", "per-unit ROC-AUC"),
    ("roc_auc_pooled", "pooled ROC-AUC"),
    ("ap_pooled", "pooled AP"),
    ("bits_per_spike_nlb_pooled", "bits/spike (NLB null)"),
)


def _best(report, transformers: bool) -> str | None:
    """The model with the highest per-unit ROC-AUC among neural models (or among the baselines)."""
    from spikebridge.experiments.zoo import is_neural

    pool = {
        m: r.metric("roc_auc_unit_mean").value
        for m, r in report.results.items()
        if is_neural(m) == transformers
    }
    pool = {m: v for m, v in pool.items() if v is not None and np.isfinite(v)}
    return max(pool, key=pool.get) if pool else None


def headline_table(reports: Sequence) -> Table:
    """Per evaluated recording: the best neural model, the strongest baseline and the rate baseline."""
    rows = []
    for rep in reports:
        roles = (
            ("best neural model", _best(rep, True)),
            ("strongest baseline", _best(rep, False)),
            ("firing rates only", "rate" if "rate" in rep.results else None),
        )
        for role, model in roles:
            if model is not None:
                res = rep.results[model]
                rows.append(
                    (rep.target, role, model, *(format_metric(res, k) for k, _ in HEADLINE), rep.chance)
                )
    return Table(
        "Headline: prediction of held-out test bins (95% block-bootstrap intervals)",
        ("recording", "role", "model", *(label for _, label in HEADLINE), "chance AP"),
        tuple(rows),
        notes=(
            "Per-unit ROC-AUC ranks each unit's bins separately: firing rates alone score 0.5 on it. Pooled "
            "ROC-AUC (the paper's number) also rewards knowing which units fire more, so read it against "
            "the rate baseline. Chance AP is the test spike probability.",
        ),
    )


def matrix_headline(summary, models: Sequence[str]) -> Paragraph:
    """One sentence on the matrix's cross-recording cells for each of ``models`` (those the matrix holds),
    beside what firing rates alone give."""
    off = ~np.eye(len(summary.names), dtype=bool)

    def cells(m, metric):
        return summary.matrix(m, metric)[off] if (m, metric) in summary.values else np.zeros(0)

    parts = [
        f"{m} per-unit ROC-AUC {mean_sd_text(cells(m, 'roc_auc_unit_mean'))}, pooled ROC-AUC "
        f"{mean_sd_text(cells(m, 'roc_auc_pooled'))}"
        for m in models
        if (m, "roc_auc_pooled") in summary.values
    ]
    return Paragraph(
        f"Cross-recording matrix of {len(summary.names)} recordings, on recordings a model was not trained "
        f"on: {'; '.join(parts)}; each target's firing rates alone (rate baseline) give pooled ROC-AUC "
        f"{mean_sd_text(cells('rate', 'roc_auc_pooled'))} (mean ± SD over cells).",
        emphasis=True,
    )


def claim_blocks(claims) -> list[Claim]:
    """Report blocks of :func:`spikebridge.experiments.claims.check_claims` output."""
    return [
        Claim(claim.text, claim.source, tuple((c.status, c.sentence) for c in checks))
        for claim, checks in claims
    ]


def claims_count(claims) -> Paragraph:
    """One sentence counting the checks of the paper's claims by outcome."""
    statuses = [c.status for _, checks in claims for c in checks]
    counts = {k: statuses.count(k) for k in ("supports", "contradicts", "inconclusive")}
    return Paragraph(
        f"The paper's claims, checked against these results ({len(statuses)} tests of {len(claims)} claims): "
        f"{counts['supports']} support a claim, {counts['contradicts']} contradict one, "
        f"{counts['inconclusive']} are not significant either way (see 'Published claims against our "
        "statistics').",
        emphasis=True,
    )


def claims_section(claims) -> Section:
    """Every checked paper claim with the sentences its tests produced."""
    intro = Paragraph(
        "Each claim below is checked by two-sided Wilcoxon signed-rank tests on our results, paired where "
        "the values are paired; the sentence under it is produced from the test. Matrix cells that share a "
        "source or a target recording are not independent, so p-values over cells are optimistic."
    )
    return Section("claims", "Published claims against our statistics", (intro, *claim_blocks(claims)))


def summary_section(
    reports: Sequence, summary=None, claims=(), model: str = "paper-dice", default_model: str = "bridge-bce"
) -> Section:
    """Headline table and verdicts, the matrix in one sentence (spikebridge's ``default_model`` and the
    paper's ``model``), and the count of checked claims."""
    blocks: list = []
    if reports:
        blocks.append(headline_table(reports))
        blocks += [Paragraph(verdict(rep), emphasis=True) for rep in reports if verdict(rep)]
    models = [
        m
        for m in dict.fromkeys((default_model, model))
        if summary and (m, "roc_auc_pooled") in summary.values
    ]
    if models:
        blocks.append(matrix_headline(summary, models))
    if claims:
        blocks.append(claims_count(claims))
    return Section("summary", "Summary", tuple(blocks))
