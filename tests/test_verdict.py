"""The verdict rule: every comparison sentence of the CLI, report and README comes from it."""

import numpy as np
import pytest

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.evaluation.verdict import (
    Verdict,
    chance_verdict,
    summary_sentence,
    verdict,
    verdict_from_test,
)


@pytest.mark.parametrize(
    ("difference", "p", "word"),
    [
        (0.009, 0.001, "beats"),  # the README once called this "level with"
        (0.001, 0.08, "is level with"),
        (-0.02, 0.0001, "loses to"),
        (-0.02, 0.2, "is level with"),
        (0.01, None, "is level with"),
        (0.01, float("nan"), "is level with"),
        (0.0, 0.001, "is level with"),
        (0.01, 0.05, "is level with"),  # p must be strictly below alpha
    ],
)
def test_verdict_words(difference, p, word):
    assert verdict(difference, p) == word


def test_chance_words_and_alpha():
    assert chance_verdict(-0.014, 1e-5) == "is below chance"  # Dice in vivo: no longer "does not differ"
    assert chance_verdict(0.03, 1e-5) == "is above chance"
    assert chance_verdict(0.03, 0.02, alpha=0.01) == "does not differ from chance"
    with pytest.raises(SpikebridgeConfigError, match="alpha"):
        verdict(0.1, 0.01, alpha=1.5)


def test_verdict_from_test_uses_holm_and_rank_direction():
    test = {
        "model": "transformer-bce", "against": "glm", "n": 126, "p_value": 0.001, "p_holm": 0.004,
        "effect": 0.0, "rank_biserial": 0.31, "note": "",
    }  # fmt: skip
    v = verdict_from_test(test)
    assert v.word == "beats" and v.adjusted and v.p_value == 0.004
    assert v.sentence() == (
        "transformer-bce beats glm on per-unit ROC-AUC (median paired difference +0.000, n = 126 units, "
        "two-sided Wilcoxon p = 0.004, Holm-adjusted)."
    )
    raw = verdict_from_test({**test, "p_holm": None, "rank_biserial": -0.3, "p_value": 0.02})
    assert raw.word == "loses to" and not raw.adjusted


def test_chance_sentence_and_undefined_test():
    below = verdict_from_test(
        {"model": "transformer-dice", "against": "chance", "n": 120, "p_value": 2e-5, "effect": -0.014,
         "rank_biserial": -0.4}
    )  # fmt: skip
    assert below.word == "is below chance"
    assert below.sentence().startswith(
        "transformer-dice is below chance on per-unit ROC-AUC (median difference"
    )
    assert "p = 2e-05" in below.sentence()
    rate = verdict_from_test(
        {"model": "rate", "against": "chance", "n": 128, "p_value": None, "effect": 0.0,
         "note": "all differences are zero"}
    )  # fmt: skip
    assert rate.word == "does not differ from chance" and "all differences are zero" in rate.sentence()
    assert rate.to_dict()["p_value"] is None and not rate.significant


def test_summary_sentence_joins_verdicts():
    vs = [
        Verdict("m", "rate", "roc_auc", "beats", 0.03, 1e-6, 100),
        Verdict("m", "glm", "roc_auc", "is level with", 0.001, 0.3, 100),
    ]
    text = summary_sentence("m", vs)
    assert text.startswith("On per-unit ROC-AUC, m beats rate (") and " and is level with glm (" in text
    assert summary_sentence("m", []) == ""
    assert np.isnan(Verdict("m", "rate", "roc_auc", "beats", np.nan, np.nan, 0).effect)
