"""The study report's verdict says who wins, and only calls a win a win when the test agrees."""

from __future__ import annotations

from types import SimpleNamespace

from spikebridge.report.html import verdict


def _report(t_value, b_value, p, direction=0.3):
    def res(v):
        return SimpleNamespace(metric=lambda name: SimpleNamespace(value=v))

    tests = [
        {"model": "paper-bce", "against": "glm", "n": 100, "p_value": p, "p_holm": p,
         "effect": t_value - b_value, "rank_biserial": direction},
    ]  # fmt: skip
    return SimpleNamespace(
        target="rec",
        results={"paper-bce": res(t_value), "glm": res(b_value), "rate": res(0.5)},
        tests=tests,
    )


def test_verdict_words_come_from_the_verdict_rule():
    text = verdict(_report(0.53, 0.52, 0.001))
    assert "best neural model by mean per-unit ROC-AUC is paper-bce (0.530)" in text
    assert "strongest baseline glm (0.520)" in text
    assert text.endswith("paper-bce beats glm on per-unit ROC-AUC (median paired difference +0.010, "
                         "n = 100 units, two-sided Wilcoxon p = 0.001, Holm-adjusted).")  # fmt: skip
    assert "paper-bce is level with glm" in verdict(_report(0.53, 0.52, 0.2))
    assert "paper-bce loses to glm" in verdict(_report(0.51, 0.52, 0.001, direction=-0.4))
    assert "is level with glm" in verdict(_report(0.51, 0.52, 0.9, direction=-0.1))
