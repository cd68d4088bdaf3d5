"""Generated activity, baselines' samples and a real stretch, each against the same held-out reference.

:func:`assess` computes every candidate's realism distances (:mod:`spikebridge.evaluation.realism`) per
trial, averages them over trials, places the model between the *floor* (the Poisson rate baseline's
samples) and the *ceiling* (another real stretch against the reference), and tests model against floor:
two-sided Wilcoxon signed-rank paired over units for the per-unit distances (each unit's distance
averaged over trials), two-sided Mann-Whitney U over trials for the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu
from threadpoolctl import threadpool_limits

from spikebridge.evaluation.realism import (
    PER_UNIT,
    RasterStats,
    RealismConfig,
    compare,
    cross_correlogram,
    higher_is_better,
    metric_names,
    raster_stats,
    top_pairs,
)
from spikebridge.evaluation.stats import versus_baseline
from spikebridge.evaluation.verdict import verdict

REALISM_WORDS = {
    "beats": "closer to real activity than",
    "is level with": "not distinguishable from",
    "loses to": "further from real activity than",
}
REFERENCE = "reference (real)"  # label of the reference in the figure numbers; candidates are "name (role)"


def _num(x: Any) -> Any:
    if isinstance(x, float | np.floating):
        return None if not np.isfinite(x) else float(x)
    return x


def _float(x: Any) -> float:
    """Inverse of :func:`_num` for a float: None (written for NaN or infinity) reads back as NaN."""
    return float("nan") if x is None else float(x)


@dataclass(frozen=True)
class CandidateRealism:
    """One candidate's distances from the reference.

    Attributes
    ----------
    name : str
        e.g. "bridge-bce", "rate", "glm", "real".
    role : {"model", "floor", "baseline", "ceiling"}
    n_trials : int
    mean, sd : dict of str to float
        Mean and standard deviation over trials of every distance (and unit counts).
    per_trial : dict of str to list of float
    per_unit : dict of str to list of float
        Per-unit distances averaged over trials (NaN: unit not eligible).
    """

    name: str
    role: str
    n_trials: int
    mean: dict[str, float]
    sd: dict[str, float]
    per_trial: dict[str, list[float]]
    per_unit: dict[str, list[float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "n_trials": self.n_trials,
            "mean": {k: _num(v) for k, v in self.mean.items()},
            "sd": {k: _num(v) for k, v in self.sd.items()},
            "per_trial": {k: [_num(x) for x in v] for k, v in self.per_trial.items()},
            "per_unit": {k: [_num(x) for x in v] for k, v in self.per_unit.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CandidateRealism:
        """Inverse of :meth:`to_dict` (None values read back as NaN)."""
        floats = lambda d: {k: _float(v) for k, v in d.items()}  # noqa: E731
        lists = lambda d: {k: [_float(x) for x in v] for k, v in d.items()}  # noqa: E731
        return cls(data["name"], data["role"], int(data["n_trials"]), floats(data["mean"]),
                   floats(data["sd"]), lists(data["per_trial"]), lists(data["per_unit"]))  # fmt: skip


@dataclass(frozen=True)
class MetricVerdict:
    """Where the model sits on one distance between the floor and the ceiling.

    ``gap_closed`` is ``(model - floor) / (ceiling - floor)``: 0 at the Poisson floor, 1 at the ceiling.
    """

    metric: str
    model: float
    floor: float
    ceiling: float
    gap_closed: float
    test: str
    p_value: float | None
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return {k: _num(getattr(self, k)) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricVerdict:
        """Inverse of :meth:`to_dict`."""
        nums = {k: _float(data[k]) for k in ("model", "floor", "ceiling", "gap_closed")}
        p = data["p_value"]
        return cls(data["metric"], test=data["test"], p_value=None if p is None else float(p),
                   verdict=data["verdict"], **nums)  # fmt: skip


@dataclass(frozen=True)
class RealismFigures:
    """Numbers the realism figures draw (trial 0 of every candidate); no computation left to viz.

    ``rates``/``cv``/``fano``: per unit; ``corr``: upper-triangle pairwise correlations at
    ``corr_bin_ms``; ``pop_hist``: (counts, probability); ``psd``: (freqs, power); ``ccg``: per
    pair ``(lags, curve)``; ``rasters``: a short snippet ``(bins, units)`` bool per candidate.
    """

    names: tuple[str, ...]
    rates: dict[str, np.ndarray]
    cv: dict[str, np.ndarray]
    fano: dict[str, np.ndarray]
    corr_bin_ms: int
    corr: dict[str, np.ndarray]
    pop_hist: dict[str, tuple[np.ndarray, np.ndarray]]
    psd: dict[str, tuple[np.ndarray, np.ndarray]]
    psd_band_hz: tuple[float, float]
    pairs: tuple[tuple[int, int], ...]
    ccg: dict[str, list[np.ndarray]]
    ccg_lags_ms: np.ndarray
    rasters: dict[str, np.ndarray] = field(repr=False)
    bin_size: float = 1e-3


@dataclass(frozen=True)
class RealismAssessment:
    """Candidates, verdicts and figure numbers of one realism comparison."""

    reference: str
    ceiling: str
    duration_s: float
    n_units: int
    config: dict[str, Any]
    candidates: dict[str, CandidateRealism]
    verdicts: list[MetricVerdict]
    figures: RealismFigures | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "ceiling": self.ceiling,
            "duration_s": self.duration_s,
            "n_units": self.n_units,
            "config": self.config,
            "candidates": {k: c.to_dict() for k, c in self.candidates.items()},
            "verdicts": [v.to_dict() for v in self.verdicts],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RealismAssessment:
        """Inverse of :meth:`to_dict`; ``figures`` is None (the figures' numbers are not stored)."""
        candidates = {k: CandidateRealism.from_dict(c) for k, c in data["candidates"].items()}
        verdicts = [MetricVerdict.from_dict(v) for v in data["verdicts"]]
        return cls(data["reference"], data["ceiling"], float(data["duration_s"]), int(data["n_units"]),
                   dict(data["config"]), candidates, verdicts, None)  # fmt: skip


def _summarise(name: str, role: str, rows: list[tuple[dict, dict]]) -> CandidateRealism:
    keys = list(rows[0][0])
    per_trial = {k: [float(r[0][k]) for r in rows] for k in keys}
    with np.errstate(all="ignore"):
        mean = {k: _safe(np.nanmean, v) for k, v in per_trial.items()}
        sd = {k: _safe(np.nanstd, v) for k, v in per_trial.items()}
        per_unit = {k: _nanmean_rows([r[1][k] for r in rows]).tolist() for k in PER_UNIT}
    return CandidateRealism(name, role, len(rows), mean, sd, per_trial, per_unit)


def _safe(fn, values) -> float:
    arr = np.asarray(values, dtype=float)
    return float(fn(arr)) if np.isfinite(arr).any() else float("nan")


def _nanmean_rows(rows: list[np.ndarray]) -> np.ndarray:
    stack = np.vstack(rows)  # (K, R)
    out = np.full(stack.shape[1], np.nan)
    ok = np.isfinite(stack).any(axis=0)
    out[ok] = np.nanmean(stack[:, ok], axis=0)
    return out


def verdict_words(better: bool, at_ceiling: bool, p_value: float | None) -> str:
    """Plain words for the model against the Poisson floor on one distance.

    The decision is :func:`spikebridge.evaluation.verdict.verdict`'s (the one rule of every comparison):
    "beats" reads "closer to real activity than", "loses to" "further from real activity than", "is level
    with" "not distinguishable from". ``better``: the model's distance lies on the ceiling's side of the
    floor's; ``at_ceiling``: it is at least as close to the reference as the real-vs-real ceiling.
    """
    if p_value is None or not np.isfinite(p_value):
        side = "closer to real activity than" if better else "further from real activity than"
        return f"{side} the Poisson baseline (untested)"
    word = verdict(1.0 if better else -1.0, p_value)
    tail = ", as close as the real-vs-real ceiling" if word == "beats" and at_ceiling else ""
    return f"{REALISM_WORDS[word]} the Poisson baseline (p = {p_value:.2g}){tail}"


def _test(metric: str, model: CandidateRealism, floor: CandidateRealism) -> tuple[str, float | None]:
    if metric in PER_UNIT:
        res = versus_baseline(np.asarray(model.per_unit[metric]), np.asarray(floor.per_unit[metric]),
                              metric=metric, over="units", alternative="two-sided")  # fmt: skip
        return f"wilcoxon paired over {res.n} units", _num(res.p_value)
    a = np.asarray(model.per_trial[metric], float)
    b = np.asarray(floor.per_trial[metric], float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if min(a.size, b.size) < 2:
        return "none (fewer than 2 trials)", None
    return f"mann-whitney over {a.size} vs {b.size} trials", float(
        mannwhitneyu(a, b, alternative="two-sided").pvalue
    )


def place(model: CandidateRealism, floor: CandidateRealism, ceiling: CandidateRealism, metrics) -> list:
    """A :class:`MetricVerdict` per distance: the model between the floor and the ceiling.

    ``gap_closed`` is NaN when the ceiling is not closer to the reference than the floor (the
    distance cannot tell real from Poisson activity at this duration).
    """
    out = []
    for metric in metrics:
        m, f, c = model.mean[metric], floor.mean[metric], ceiling.mean[metric]
        sign = 1.0 if higher_is_better(metric) else -1.0  # sign * value grows towards the reference
        finite = bool(np.isfinite([m, f, c]).all())
        gap = (m - f) / (c - f) if finite and sign * (c - f) > 0 else float("nan")
        better, at_ceiling = finite and sign * (m - f) > 0, finite and sign * (m - c) >= 0
        test, p = _test(metric, model, floor)
        out.append(MetricVerdict(metric, m, f, c, float(gap), test, p, verdict_words(better, at_ceiling, p)))
    return out


def _figures(stats: dict[str, RasterStats], reference: RasterStats, config: RealismConfig,
             snippet_bins: int) -> RealismFigures:  # fmt: skip
    b = int(config.corr_bins_ms[len(config.corr_bins_ms) // 2])
    iu = np.triu_indices(reference.rates.size, k=1)
    lag = config.bins(config.ccg_max_lag_ms)
    pairs = tuple(top_pairs(reference, min(config.n_ccg_pairs, 6)))
    hist = {}
    for name, s in stats.items():
        counts = np.bincount(s.pop_counts)
        hist[name] = (np.arange(counts.size), counts / counts.sum())
    return RealismFigures(
        names=tuple(stats),
        rates={k: s.rates for k, s in stats.items()},
        cv={k: s.cv for k, s in stats.items()},
        fano={k: s.fano for k, s in stats.items()},
        corr_bin_ms=b,
        corr={k: s.corr[b][iu] for k, s in stats.items()},
        pop_hist=hist,
        psd={k: (s.psd_freqs, s.psd) for k, s in stats.items()},
        psd_band_hz=config.psd_band_hz,
        pairs=pairs,
        ccg={k: [cross_correlogram(s.raster, i, j, lag) for i, j in pairs] for k, s in stats.items()},
        ccg_lags_ms=np.arange(-lag, lag + 1) * config.bin_size * 1e3,
        rasters={k: s.raster[:snippet_bins] for k, s in stats.items()},
        bin_size=config.bin_size,
    )


def assess(
    candidates: dict[str, tuple[str, np.ndarray]],
    reference: np.ndarray,
    config: RealismConfig | None = None,
    reference_label: str = "reference",
    ceiling_label: str = "",
    snippet_s: float = 2.0,
) -> RealismAssessment:
    """Compare every candidate with the reference.

    Parameters
    ----------
    candidates : dict of name to (role, rasters)
        ``rasters`` ``(K, T, R)`` bool of real units, same ``T`` and ``R`` as the reference; roles are
        "model" (one), "floor" (the Poisson rate baseline, one), "ceiling" (real stretch, one) and
        "baseline" (any others, e.g. the GLM).
    reference : ndarray ``(T, R)`` bool
        Held-out real activity.
    config : RealismConfig
    reference_label, ceiling_label : str
        Descriptions kept in the result.
    snippet_s : float
        Seconds of raster kept for the figures.
    """
    config = config or RealismConfig()
    # the products here are small: BLAS threads only contend (measured 40x slower on a loaded machine)
    with threadpool_limits(limits=1, user_api="blas"):
        ref = raster_stats(reference, config)
        per_candidate, first = {}, {REFERENCE: ref}
        for name, (role, rasters) in candidates.items():
            rows = []
            for k, raster in enumerate(np.asarray(rasters, bool)):
                stats = raster_stats(raster, config)
                rows.append(compare(stats, ref, config))
                if k == 0:
                    first[f"{name} ({role})"] = stats
            per_candidate[name] = _summarise(name, role, rows)
    roles = {c.role: c for c in per_candidate.values()}
    verdicts = []
    if {"model", "floor", "ceiling"} <= set(roles):
        verdicts = place(roles["model"], roles["floor"], roles["ceiling"], metric_names(config))
    return RealismAssessment(
        reference=reference_label,
        ceiling=ceiling_label,
        duration_s=reference.shape[0] * config.bin_size,
        n_units=reference.shape[1],
        config=config.to_dict(),
        candidates=per_candidate,
        verdicts=verdicts,
        figures=_figures(first, ref, config, config.bins(snippet_s * 1000)),
    )
