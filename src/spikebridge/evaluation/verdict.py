"""Plain-language verdicts on model comparisons: the one rule every sentence of the CLI, report and README uses.

A comparison is a signed difference (model - reference) and a **two-sided** p-value. With ``p < alpha``
the sign decides: a model "beats" / "loses to" a baseline, or "is above chance" / "is below chance";
otherwise it "is level with" the baseline or "does not differ from chance". An undefined test (no pair
to test, or every difference zero) is never significant.

:func:`verdict` and :func:`chance_verdict` are the rule; :func:`verdict_from_test` applies it to a test
record of :func:`spikebridge.experiments.evaluate.significance_tests` (direction from the rank-biserial
correlation of the signed-rank test, p-value Holm-adjusted over the evaluation's tests when available),
and :meth:`Verdict.sentence` writes the sentence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from spikebridge.errors import SpikebridgeConfigError

DEFAULT_ALPHA = 0.05
COMPARISON_WORDS = ("beats", "is level with", "loses to")
CHANCE_WORDS = ("is above chance", "does not differ from chance", "is below chance")
METRIC_LABELS = {
    "roc_auc": "per-unit ROC-AUC",
    "ap": "per-unit average precision",
    "bits_per_spike": "per-unit bits/spike",
}


def _significant(difference: float | None, p_value: float | None, alpha: float) -> int:
    """+1 / -1 when the difference is significant in that direction, 0 otherwise."""
    if not 0.0 < alpha < 1.0:
        raise SpikebridgeConfigError(f"alpha must be in (0, 1), got {alpha}")
    if difference is None or p_value is None:
        return 0
    d, p = float(difference), float(p_value)
    if not (np.isfinite(d) and np.isfinite(p)) or p >= alpha or d == 0.0:
        return 0
    return 1 if d > 0 else -1


def verdict(difference: float | None, p_value: float | None, alpha: float = DEFAULT_ALPHA) -> str:
    """ "beats", "is level with" or "loses to" for a model - baseline ``difference`` and two-sided ``p_value``.

    Parameters
    ----------
    difference : float or None
        Signed size of the difference (model - baseline); only its sign is used.
    p_value : float or None
        Two-sided p-value of the paired test (None or NaN: the test was undefined).
    alpha : float
        Significance level.
    """
    return COMPARISON_WORDS[1 - _significant(difference, p_value, alpha)]


def chance_verdict(difference: float | None, p_value: float | None, alpha: float = DEFAULT_ALPHA) -> str:
    """ "is above chance", "does not differ from chance" or "is below chance" (difference = value - chance)."""
    return CHANCE_WORDS[1 - _significant(difference, p_value, alpha)]


def _fmt_p(p: float | None) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.0e}"


@dataclass(frozen=True)
class Verdict:
    """One comparison in words.

    Attributes
    ----------
    model, reference : str
        The compared model and what it is compared with (a baseline's name, or "chance").
    metric : str
        The per-unit metric tested (e.g. "roc_auc").
    word : str
        One of ``COMPARISON_WORDS`` or ``CHANCE_WORDS``.
    effect : float
        Median paired difference (model - reference) over the tested units.
    p_value : float
        The p-value the verdict used (two-sided; Holm-adjusted when ``adjusted``).
    n : int
        Pairs tested.
    alpha : float
    adjusted : bool
        True when ``p_value`` is Holm-adjusted over the evaluation's family of tests.
    note : str
        Why a test was undefined, if it was.
    """

    model: str
    reference: str
    metric: str
    word: str
    effect: float
    p_value: float
    n: int
    alpha: float = DEFAULT_ALPHA
    adjusted: bool = False
    note: str = ""

    @property
    def significant(self) -> bool:
        return self.word not in (COMPARISON_WORDS[1], CHANCE_WORDS[1])

    def stats_text(self, compact: bool = False) -> str:
        """The numbers behind the verdict.

        E.g. "median paired difference +0.004, n = 126 units, two-sided Wilcoxon p = 0.001, Holm-adjusted",
        or with ``compact`` (when the test is named elsewhere) "median +0.004, p = 0.001".
        """
        if self.n == 0 or not np.isfinite(self.p_value):
            return f"n = {self.n}, {self.note or 'test undefined'}"
        if compact:
            return f"median {self.effect:+.3f}, p = {_fmt_p(self.p_value)}"
        what = "median difference from 0.5" if self.reference == "chance" else "median paired difference"
        if self.reference == "chance" and self.metric != "roc_auc":
            what = "median difference from chance"
        holm = ", Holm-adjusted" if self.adjusted else ""
        return f"{what} {self.effect:+.3f}, n = {self.n} units, two-sided Wilcoxon p = {_fmt_p(self.p_value)}{holm}"

    def sentence(self) -> str:
        """A full sentence, e.g. "transformer-bce beats glm on per-unit ROC-AUC (...)"."""
        label = METRIC_LABELS.get(self.metric, self.metric)
        if self.reference == "chance":
            return f"{self.model} {self.word} on {label} ({self.stats_text()})."
        return f"{self.model} {self.word} {self.reference} on {label} ({self.stats_text()})."

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("effect", "p_value"):
            out[key] = None if not np.isfinite(out[key]) else float(out[key])
        out["sentence"] = self.sentence()
        return out


def verdict_from_test(test: dict, alpha: float = DEFAULT_ALPHA, metric: str = "roc_auc") -> Verdict:
    """The verdict of one significance-test record.

    Parameters
    ----------
    test : dict
        A record of ``significance_tests``: ``model``, ``against`` ("chance" or a baseline), ``n``,
        ``p_value`` (two-sided), optionally ``p_holm`` (used when present), ``effect`` (median
        difference), ``rank_biserial`` (direction; ``effect`` is used when it is missing), ``note``.
    alpha : float
    metric : str
        Metric name, for the sentence.
    """
    p_holm = test.get("p_holm")
    adjusted = p_holm is not None
    p = p_holm if adjusted else test.get("p_value")
    direction = test.get("rank_biserial")
    if direction is None:
        direction = test.get("effect")
    against = test["against"]
    rule = chance_verdict if against == "chance" else verdict
    effect = test.get("effect")
    return Verdict(
        model=test["model"],
        reference=against,
        metric=test.get("metric", metric),
        word=rule(direction, p, alpha),
        effect=float("nan") if effect is None else float(effect),
        p_value=float("nan") if p is None else float(p),
        n=int(test.get("n", 0)),
        alpha=alpha,
        adjusted=adjusted,
        note=test.get("note", "") or "",
    )


def summary_sentence(model: str, verdicts: list[Verdict], compact: bool = False) -> str:
    """One sentence joining several verdicts of the same model, e.g. "x beats rate (...), is level with glm (...)".

    ``compact`` shortens the numbers (see :meth:`Verdict.stats_text`) for text that names the test once.
    """
    parts = []
    for v in verdicts:
        target = "" if v.reference == "chance" else f" {v.reference}"
        parts.append(f"{v.word}{target} ({v.stats_text(compact)})")
    if not parts:
        return ""
    label = METRIC_LABELS.get(verdicts[0].metric, verdicts[0].metric)
    body = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"On {label}, {model} {body}."
