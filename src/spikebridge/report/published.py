"""The seed paper's Table 2 as published, quoted beside our matrix in the same layout.

Only numbers the texts state are quoted. The full table is in the v1 preprint (Table 2, "Performance
Comparison Across Training Conditions": ROC-AUC, mean +/- SD, Dice loss); the v2 journal text restates
two of its values (training 0.92 +/- 0.06 over all datasets; lowest case 0.70 +/- 0.09).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikebridge.report.blocks import Table

SOURCE = "Shimono et al., preprint v1, Table 2"
V2_NOTE = (
    "The v2 journal text restates two values: 0.92 ± 0.06 over all training datasets (section 3.1) and "
    "0.70 ± 0.09 for the lowest-scoring generation case (section 3.2), the v1 value of in vitro -> in vivo."
)


@dataclass(frozen=True)
class PublishedRow:
    """One published Table 2 condition, the group of our matrix it corresponds to, and its values."""

    condition: str
    group: str
    preparation: str | None  # training rows: the sources' preparation
    mean: float
    sd: float


TABLE2 = (
    PublishedRow("In vitro (training)", "training", "in_vitro", 0.92, 0.06),
    PublishedRow("In vivo (training)", "training", "in_vivo", 0.93, 0.06),
    PublishedRow("In vitro -> in vitro (self data)", "in vitro self", None, 0.93, 0.05),
    PublishedRow("In vitro -> in vitro (others)", "in vitro others", None, 0.75, 0.07),
    PublishedRow("In vivo -> in vivo (self data)", "in vivo self", None, 0.77, 0.10),
    PublishedRow("In vivo -> in vivo (others)", "in vivo others", None, 0.74, 0.10),
    PublishedRow("In vitro -> in vivo", "in vitro -> in vivo", None, 0.70, 0.09),
    PublishedRow("In vivo -> in vitro", "in vivo -> in vitro", None, 0.80, 0.10),
)


def mean_sd_text(values) -> str:
    """``mean ± SD (n = k)`` of the finite values (SD with ddof=1; ``-`` when there are none)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "-"
    sd = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return f"{v.mean():.3f} ± {sd:.3f} (n = {v.size})"


def _ours(summary, model: str, metric: str, row: PublishedRow) -> str:
    """Our values of ``model`` for the group of one published row (``-`` when the matrix has none)."""
    if (model, metric) not in summary.values:
        return "-"
    if row.group == "training":
        prep = np.array([p == row.preparation for p in summary.preparations])
        vec = summary.training.get((model, metric), np.full(len(summary.names), np.nan))
        return mean_sd_text(vec[prep])
    return mean_sd_text(summary.matrix(model, metric)[summary.group_masks()[row.group]])


def table2_side_by_side(summary, model: str = "paper-dice", also: str | None = "bridge-bce") -> Table:
    """Published Table 2 next to ours: the model's pooled ROC-AUC (the paper's number), the rate
    baseline's pooled ROC-AUC on the same cells, and the model's per-unit ROC-AUC; when the matrix holds
    ``also`` (spikebridge's model), its pooled and per-unit ROC-AUC follow in two more columns."""
    extra = also if also and also != model and (also, "roc_auc_pooled") in summary.values else None
    rows = [
        (
            r.condition,
            f"{r.mean:.2f} ± {r.sd:.2f}",
            _ours(summary, model, "roc_auc_pooled", r),
            _ours(summary, "rate", "roc_auc_pooled", r),
            _ours(summary, model, "roc_auc_unit_mean", r),
            *(
                (_ours(summary, extra, "roc_auc_pooled", r), _ours(summary, extra, "roc_auc_unit_mean", r))
                if extra
                else ()
            ),
        )  # fmt: skip
        for r in TABLE2
    ]
    header = (
        "condition",
        "published ROC-AUC (quoted)",
        f"ours: {model}, pooled ROC-AUC",
        "ours: rate baseline, pooled ROC-AUC",
        f"ours: {model}, per-unit ROC-AUC",
        *((f"ours: {extra}, pooled ROC-AUC", f"ours: {extra}, per-unit ROC-AUC") if extra else ()),
    )
    return Table(
        f"Table 2: published values beside ours ({model}{', ' + extra if extra else ''})",
        header,
        tuple(rows),
        notes=(
            f"Published column: quoted from {SOURCE} (ROC-AUC, mean ± SD over recordings, Dice loss, the "
            "authors' protocol). " + V2_NOTE,
            "Ours: mean ± SD over matrix cells (n = cells) under the leak-free protocol; training rows are "
            "the validation value at the kept epoch of each source's model. The rate baseline predicts "
            "every bin from each unit's training firing rate: its pooled ROC-AUC is what firing rates "
            "alone achieve, and its per-unit ROC-AUC is 0.5 by construction."
            + (
                f" {model} is the paper's transformer and loss; {extra} is spikebridge's model."
                if extra
                else ""
            ),
        ),
    )
