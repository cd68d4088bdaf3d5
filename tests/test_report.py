"""The study report's verdict says who wins, and only calls a win a win when the test agrees."""

from __future__ import annotations

from types import SimpleNamespace

from spikebridge.report.html import verdict


def _report(t_value, b_value, p):
    def res(v):
        return SimpleNamespace(metric=lambda name: SimpleNamespace(value=v))

    tests = [{"model": "transformer-bce", "against": "glm", "p_value": p}]
    return SimpleNamespace(
        target="rec",
        results={"transformer-bce": res(t_value), "glm": res(b_value), "rate": res(0.5)},
        tests=tests,
    )


def test_verdict_words():
    assert "beats the strongest baseline (glm, 0.520)" in verdict(_report(0.53, 0.52, 0.001))
    assert "is level with the strongest baseline" in verdict(_report(0.53, 0.52, 0.2))
    assert verdict(_report(0.53, 0.52, 0.2)).endswith("p = 0.2, not significant.")
    assert "does not beat" in verdict(_report(0.51, 0.52, 0.9))
    assert "p = 0.001" in verdict(_report(0.53, 0.52, 0.001))
