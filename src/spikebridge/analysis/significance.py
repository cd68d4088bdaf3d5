"""Two-sided t-tests of correlations: across test windows of one recording, and across recordings.

Correlations are averaged and tested on the Fisher z scale (``z = atanh(r)``); means are reported back
on the r scale (``tanh`` of the mean z). With few recordings the across-recording test has little power;
the per-recording test across windows is reported beside it and labelled as such.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

WITHIN = "one-sample t-test of per-window Fisher z against 0 (two-sided), windows of one recording"
ACROSS = "one-sample t-test of per-recording mean Fisher z against 0 (two-sided), across recordings"


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


@dataclass(frozen=True)
class CorrelationTest:
    """A mean correlation and its two-sided one-sample t-test on the Fisher z scale.

    Attributes
    ----------
    label : str
        What is correlated, e.g. ``"attention|key|input"``.
    n : int
        Replicates tested (windows or recordings with a defined correlation).
    mean_r : float
        ``tanh`` of the mean Fisher z (NaN when ``n == 0``).
    t, p_value : float
        Student t statistic and two-sided p-value (NaN when ``n < 2`` or the z values are all equal).
    test : str
        Which replicates: windows of one recording (``WITHIN``) or recordings (``ACROSS``).
    """

    label: str
    n: int
    mean_r: float
    t: float
    p_value: float
    test: str

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("mean_r", "t", "p_value"):
            out[key] = _num(out[key])
        return out


def fisher_z(r: np.ndarray, limit: float = 0.999999) -> np.ndarray:
    """``atanh(r)`` with ``|r|`` clipped below 1 so that perfect correlations stay finite."""
    return np.arctanh(np.clip(np.asarray(r, dtype=float), -limit, limit))


def z_t_test(z: np.ndarray, label: str, test: str = WITHIN) -> CorrelationTest:
    """Two-sided one-sample t-test of Fisher z values against 0 (NaN values are dropped).

    Parameters
    ----------
    z : ndarray, shape (n,)
        One Fisher z per replicate (window or recording).
    label, test : str
        Stored in the result.
    """
    from scipy.stats import ttest_1samp

    z = np.asarray(z, dtype=float).ravel()
    z = z[np.isfinite(z)]
    mean_r = float(np.tanh(z.mean())) if z.size else np.nan
    if z.size < 2 or np.ptp(z) == 0:
        return CorrelationTest(label, int(z.size), mean_r, np.nan, np.nan, test)
    res = ttest_1samp(z, 0.0, alternative="two-sided")
    return CorrelationTest(label, int(z.size), mean_r, float(res.statistic), float(res.pvalue), test)
