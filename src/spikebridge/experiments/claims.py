"""The seed paper's claims checked against our statistics, each as a sentence produced from the numbers.

Every check is a two-sided Wilcoxon signed-rank test (``spikebridge.evaluation.stats``), paired where
the values are paired (units on the same test bins, matrix cells of the same source and target,
reciprocal cells), and its outcome is worded by :func:`verdict_word`, the one place that turns a
difference and a p-value into words. A claim is *supported* when our test finds the stated direction
significant, *contradicted* when it finds the opposite significant, and *inconclusive* otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from spikebridge.evaluation.stats import TestResult, versus_baseline, versus_chance

ALPHA = 0.05
STATUS = {
    "beats": "supports",
    "is above chance": "supports",
    "loses to": "contradicts",
    "is below chance": "contradicts",
}
METRIC_LABELS = {"roc_auc_unit_mean": "per-unit ROC-AUC", "roc_auc_pooled": "pooled ROC-AUC"}


def verdict_word(difference: float, p_value: float | None, alpha: float = ALPHA, chance: bool = False) -> str:
    """Words for a two-sided comparison: "beats" / "loses to" / "is level with".

    With ``chance=True``: "is above chance" / "is below chance" / "does not differ from chance".
    The rule is :mod:`spikebridge.evaluation.verdict`'s, the one every comparison sentence uses.
    """
    from spikebridge.evaluation.verdict import chance_verdict, verdict

    return (chance_verdict if chance else verdict)(difference, p_value, alpha)


@dataclass(frozen=True)
class PaperClaim:
    """A claim of the seed paper (paraphrased in one line) and where its text states it."""

    id: str
    text: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "source": self.source}


PAPER_CLAIMS = {
    c.id: c
    for c in (
        PaperClaim(
            "dice-vs-focal",
            "Training with Dice loss predicts spikes better than training with binary focal cross-entropy.",
            "v1 preprint, Fig. 2e-f caption; v2 journal, section 3.1",
        ),
        PaperClaim(
            "beyond-rates",
            "The Dice-trained transformer predicts spikes with high accuracy (ROC-AUC above 0.9).",
            "v2 journal, section 3.1; v1 preprint, Results 1",
        ),
        PaperClaim(
            "vivo-to-vitro",
            "In vivo -> in vitro generation outperforms in vitro -> in vivo generation.",
            "v2 journal, section 3.2 (third finding); v1 preprint, Results 2",
        ),
        PaperClaim(
            "cross-above-chance",
            "Generation between in vitro and in vivo recordings is significantly better than expected.",
            "v1 preprint, Table 2 caption",
        ),
        PaperClaim(
            "self-above-others",
            "In vitro models predict their own recording better than other in vitro recordings.",
            "v1 preprint, Table 2 caption; v2 journal, section 3.2 (first finding)",
        ),
    )
}


@dataclass(frozen=True)
class ClaimCheck:
    """One statistical check of one claim.

    Attributes
    ----------
    claim : str
        Id of the :class:`PaperClaim`.
    scope : str
        What was compared, e.g. "slice_210511001, per-unit ROC-AUC".
    label_a, label_b : str
        The claim's expected winner and loser (``label_b`` may be a chance level).
    mean_a, mean_b : float
        Means of the compared values (NaN when there are none).
    test : dict
        :class:`~spikebridge.evaluation.stats.TestResult` as a dict (two-sided).
    word : str
        :func:`verdict_word` of the test's direction (rank-biserial correlation) and p-value.
    status : {"supports", "contradicts", "inconclusive"}
    sentence : str
    """

    claim: str
    scope: str
    label_a: str
    label_b: str
    mean_a: float
    mean_b: float
    test: dict
    word: str
    status: str
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out.update(mean_a=_num(self.mean_a), mean_b=_num(self.mean_b))
        return out


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _mean(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def make_check(
    claim: str,
    scope: str,
    label_a: str,
    label_b: str,
    a,
    b,
    test: TestResult,
    over: str,
    chance: bool = False,
) -> ClaimCheck:
    """Word a finished two-sided test of "a > b" as a :class:`ClaimCheck` with its sentence."""
    direction = test.rank_biserial if math.isfinite(test.rank_biserial) else test.effect
    word = verdict_word(direction, test.p_value, chance=chance)  # the direction the signed-rank test sees
    status = STATUS.get(word, "inconclusive")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)  # the values the test used
    mean_a, mean_b = _mean(a[both]), _mean(b[both])
    if math.isfinite(test.p_value):
        stats = f"median difference {test.effect:+.3f}, two-sided {test.test} p = {test.p_value:.2g}"
    else:
        stats = f"no p-value ({test.note or 'test undefined'})"
    outcome = f"{label_a} {word}" + ("" if chance else f" {label_b}")
    meaning = {
        "supports": "this supports the claim",
        "contradicts": "this contradicts the claim",
    }.get(status, "not significant, so this neither supports nor contradicts the claim")
    sentence = (
        f"{scope} (n = {test.n} {over}): {label_a} {mean_a:.3f} vs {label_b} {mean_b:.3f} (means), "
        f"{stats}. {outcome[:1].upper()}{outcome[1:]}: {meaning}."
    )
    return ClaimCheck(claim, scope, label_a, label_b, mean_a, mean_b, test.to_dict(), word, status, sentence)


def _paired(claim, scope, label_a, label_b, a, b, metric, over) -> ClaimCheck:
    test = versus_baseline(a, b, metric=metric, over=over, alternative="two-sided")
    return make_check(claim, scope, label_a, label_b, a, b, test, over)


def evaluation_checks(report, model: str = "paper-dice", other: str = "paper-focal") -> list:
    """Checks on one evaluation (per-unit ROC-AUC, paired over the target's units).

    ``report`` is an :class:`~spikebridge.experiments.evaluate.EvaluationReport`; a check is made only
    for the models it holds.
    """
    res = report.results
    checks = []
    auc = {m: np.asarray(r.per_unit["roc_auc"], dtype=float) for m, r in res.items()}
    scope = f"{report.target}, per-unit ROC-AUC"
    if model in auc and other in auc:
        checks.append(
            _paired("dice-vs-focal", scope, model, other, auc[model], auc[other], "roc_auc", "units")
        )
    if model in auc and "rate" in auc:
        pooled = res[model].metric("roc_auc_pooled").value
        rate_pooled = res["rate"].metric("roc_auc_pooled").value
        check = _paired(
            "beyond-rates", scope, model, "rate baseline", auc[model], auc["rate"], "roc_auc", "units"
        )
        prefix = (
            f"{report.target}: pooled ROC-AUC {pooled:.3f} for {model}; each unit's firing rate alone (rate "
            f"baseline) gives {rate_pooled:.3f}. "
        )
        checks.append(replace(check, sentence=prefix + check.sentence))
    return checks


def matrix_checks(
    summary,
    model: str = "paper-dice",
    other: str = "paper-focal",
    metrics: Sequence[str] = ("roc_auc_unit_mean", "roc_auc_pooled"),
) -> list:
    """Checks on a cross-recording matrix (:class:`~spikebridge.experiments.matrix_summary.MatrixSummary`)."""
    checks = []
    vitro = np.array([p == "in_vitro" for p in summary.preparations])
    vivo = np.array([p == "in_vivo" for p in summary.preparations])
    for metric in metrics:
        if (model, metric) not in summary.values:
            continue
        label = f"matrix, {METRIC_LABELS.get(metric, metric)}"
        mat = summary.matrix(model, metric)
        if (other, metric) in summary.values:
            b = summary.matrix(other, metric)
            checks.append(
                _paired(
                    "dice-vs-focal",
                    f"{label}, all cells",
                    model,
                    other,
                    mat.ravel(),
                    b.ravel(),
                    metric,
                    "cells",
                )
            )
        ii, jj = np.nonzero(vitro[:, None] & vivo[None, :])  # (vitro i, vivo j) pairs
        checks.append(
            _paired(
                "vivo-to-vitro",
                f"{label}, {model}",
                "in vivo -> in vitro",
                "in vitro -> in vivo",
                mat[jj, ii],
                mat[ii, jj],
                metric,
                "reciprocal pairs",
            )
        )
        checks.append(_cross_check(summary, model, metric, label, vitro, vivo))
        checks.append(_self_check(mat, vitro, f"{label}, {model}", metric))
    return checks


def _cross_check(summary, model, metric, label, vitro, vivo) -> ClaimCheck:
    """Cross-preparation cells against chance (per-unit: 0.5) or against the target's own rate baseline."""
    cross = (vitro[:, None] & vivo[None, :]) | (vivo[:, None] & vitro[None, :])
    values = summary.matrix(model, metric)[cross]
    scope = f"{label}, {model}, in vitro <-> in vivo cells"
    if metric == "roc_auc_unit_mean" or ("rate", metric) not in summary.values:
        test = versus_chance(values, 0.5, metric=metric, alternative="two-sided")
        chance = np.full(values.shape, 0.5)
        return make_check(
            "cross-above-chance",
            scope,
            model,
            "chance",
            values,
            chance,
            test,
            "cells",
            chance=True,
        )
    own_rate = np.broadcast_to(np.diag(summary.matrix("rate", metric))[None, :], cross.shape)[cross]
    return _paired(
        "cross-above-chance", scope, model, "the target's rate baseline", values, own_rate, metric, "cells"
    )


def _self_check(mat: np.ndarray, vitro: np.ndarray, label: str, metric: str) -> ClaimCheck:
    """Each in vitro source's own recording against the mean of the other in vitro recordings."""
    idx = np.flatnonzero(vitro)
    own = np.array([mat[i, i] for i in idx]) if idx.size > 1 else np.zeros(0)
    others = np.array([_mean(mat[i, idx[idx != i]]) for i in idx]) if idx.size > 1 else np.zeros(0)
    return _paired(
        "self-above-others",
        f"{label}, in vitro sources",
        "own recording",
        "other in vitro recordings",
        own,
        others,
        metric,
        "sources",
    )


def check_claims(
    evaluations: Sequence = (),
    summary=None,
    model: str = "paper-dice",
    other: str = "paper-focal",
) -> list[tuple[PaperClaim, list[ClaimCheck]]]:
    """Every claim of :data:`PAPER_CLAIMS` with the checks our evaluations and matrix allow.

    Checks without values (e.g. no in vivo recording in the matrix) are dropped, and so are claims
    left without a check.
    """
    checks = [c for rep in evaluations for c in evaluation_checks(rep, model, other)]
    if summary is not None:
        checks += matrix_checks(summary, model, other)
    checks = [c for c in checks if c.test["n"] > 0]  # nothing to say where the recordings allow no test
    return [
        (claim, [c for c in checks if c.claim == cid])
        for cid, claim in PAPER_CLAIMS.items()
        if any(c.claim == cid for c in checks)
    ]
