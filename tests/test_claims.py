"""The paper's claims checked on hand-built matrices and evaluations: exact tests, words and statuses."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import wilcoxon

from spikebridge.experiments.claims import check_claims, evaluation_checks, matrix_checks, verdict_word
from spikebridge.experiments.matrix_summary import MatrixSummary

NAMES = ["a", "b", "c", "d", "e"]
PREPS = ["in_vitro", "in_vitro", "in_vitro", "in_vivo", "in_vivo"]


def _summary(unit: np.ndarray, pooled: np.ndarray | None = None, focal_shift: float = 0.0) -> MatrixSummary:
    values = {
        ("paper-dice", "roc_auc_unit_mean"): unit,
        ("rate", "roc_auc_unit_mean"): np.full((5, 5), 0.5),
    }
    values[("paper-focal", "roc_auc_unit_mean")] = unit + focal_shift
    if pooled is not None:
        values[("paper-dice", "roc_auc_pooled")] = pooled
        values[("rate", "roc_auc_pooled")] = np.full((5, 5), 0.8)
    return MatrixSummary(NAMES, PREPS, values, {})


def _reciprocal(vivo_to_vitro: float, vitro_to_vivo: float) -> np.ndarray:
    """Per-unit matrix: 0.55 within a preparation, the given values across (plus distinct offsets)."""
    m = np.full((5, 5), 0.55)
    offsets = np.arange(6).reshape(3, 2) * 0.001
    m[:3, 3:] = vitro_to_vivo + offsets  # rows: source, columns: target
    m[3:, :3] = vivo_to_vitro + 2 * offsets.T
    return m


def test_verdict_words():
    assert verdict_word(0.02, 0.01) == "beats"
    assert verdict_word(-0.02, 0.01) == "loses to"
    assert verdict_word(0.02, 0.2) == "is level with"
    assert verdict_word(0.02, None) == "is level with"
    assert verdict_word(0.02, float("nan")) == "is level with"
    assert verdict_word(0.1, 0.001, chance=True) == "is above chance"
    assert verdict_word(-0.1, 0.001, chance=True) == "is below chance"
    assert verdict_word(-0.1, 0.3, chance=True) == "does not differ from chance"


def test_vivo_to_vitro_claim_supported_then_contradicted():
    checks = {
        c.claim: c for c in matrix_checks(_summary(_reciprocal(0.60, 0.52)), metrics=("roc_auc_unit_mean",))
    }
    c = checks["vivo-to-vitro"]
    m = _reciprocal(0.60, 0.52)
    diff = np.array([m[j, i] - m[i, j] for i in range(3) for j in range(3, 5)])
    assert c.test["n"] == 6 and c.test["p_value"] == wilcoxon(diff).pvalue == 0.03125
    assert (c.word, c.status) == ("beats", "supports")
    assert c.sentence == (
        "matrix, per-unit ROC-AUC, paper-dice (n = 6 reciprocal pairs): in vivo -> in vitro 0.605 vs "
        "in vitro -> in vivo 0.522 (means), median difference +0.082, two-sided wilcoxon signed-rank "
        "(paired) p = 0.031. In vivo -> in vitro beats in vitro -> in vivo: this supports the claim."
    )
    flipped = {
        c.claim: c for c in matrix_checks(_summary(_reciprocal(0.50, 0.60)), metrics=("roc_auc_unit_mean",))
    }
    assert (flipped["vivo-to-vitro"].word, flipped["vivo-to-vitro"].status) == ("loses to", "contradicts")
    assert flipped["vivo-to-vitro"].sentence.endswith("this contradicts the claim.")


def test_cross_preparation_cells_against_chance_and_rate_baseline():
    unit = _reciprocal(0.60, 0.52)
    pooled = np.full((5, 5), 0.8) + np.arange(25).reshape(5, 5) * 1e-4  # every cell just above the rate's 0.8
    checks = [c for c in matrix_checks(_summary(unit, pooled)) if c.claim == "cross-above-chance"]
    per_unit, vs_rate = checks
    assert per_unit.test["n"] == 12 and per_unit.word == "is above chance" and per_unit.status == "supports"
    cross = np.r_[unit[:3, 3:].ravel(), unit[3:, :3].ravel()]
    assert per_unit.test["p_value"] == wilcoxon(cross - 0.5).pvalue
    assert vs_rate.label_b == "the target's rate baseline" and vs_rate.test["n"] == 12
    assert vs_rate.status == "supports" and vs_rate.mean_b == pytest.approx(0.8)


def test_dice_against_focal_pairs_every_cell():
    unit = _reciprocal(0.60, 0.52)
    checks = [c for c in matrix_checks(_summary(unit, focal_shift=0.01)) if c.claim == "dice-vs-focal"]
    assert len(checks) == 1 and checks[0].test["n"] == 25
    assert checks[0].word == "loses to" and checks[0].status == "contradicts"
    assert abs(checks[0].test["effect"] + 0.01) < 1e-12


def test_self_check_with_three_sources_cannot_reach_significance():
    unit = _reciprocal(0.60, 0.52)
    np.fill_diagonal(unit, 0.7)
    check = next(c for c in matrix_checks(_summary(unit)) if c.claim == "self-above-others")
    assert check.test["n"] == 3 and check.test["p_value"] == 0.25  # exact two-sided minimum for n = 3
    assert check.status == "inconclusive" and "neither supports nor contradicts" in check.sentence


def test_claims_without_values_are_left_out():
    vitro_only = MatrixSummary(
        NAMES[:3], PREPS[:3], {("paper-dice", "roc_auc_unit_mean"): np.full((3, 3), 0.6)}, {}
    )
    claims = dict((claim.id, checks) for claim, checks in check_claims((), vitro_only))
    assert set(claims) == {"self-above-others"}  # no in vivo recording: no cross-preparation claim


def _evaluation(dice, focal, rate):
    def res(values, pooled):
        metric = SimpleNamespace(value=pooled)
        return SimpleNamespace(per_unit={"roc_auc": values}, metric=lambda name: metric)

    results = {
        "paper-dice": res(dice, 0.93),
        "paper-focal": res(focal, 0.92),
        "rate": res(rate, 0.91),
    }
    return SimpleNamespace(target="slice", results=results)


def test_evaluation_checks_pair_units_and_drop_padding():
    dice = [0.60, 0.62, 0.58, 0.61, 0.63, 0.59, 0.64, None]
    focal = [0.55, 0.54, 0.56, 0.52, 0.53, 0.57, 0.50, None]
    checks = evaluation_checks(_evaluation(dice, focal, [0.5] * 7 + [None]))
    vs_focal, vs_rate = checks
    assert (
        vs_focal.test["n"] == 7
        and vs_focal.test["p_value"] == wilcoxon(np.subtract(dice[:7], focal[:7])).pvalue
    )
    assert vs_focal.status == "supports" and vs_focal.scope == "slice, per-unit ROC-AUC"
    assert vs_rate.sentence.startswith(
        "slice: pooled ROC-AUC 0.930 for paper-dice; each unit's firing rate alone (rate baseline) gives 0.910."
    )
