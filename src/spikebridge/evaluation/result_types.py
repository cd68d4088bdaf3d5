"""Result dataclasses of the evaluation layer: metric values with intervals, per-unit summaries, curves.

They hold numbers only (computed in :mod:`spikebridge.evaluation.metrics`) and serialise to JSON-friendly
dicts (floats, lists; NaN and infinities become None).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Curve:
    """A pooled ROC or PR curve for plotting, downsampled along its arc length.

    ``x``/``y`` are (FPR, TPR) for kind "roc" and (recall, precision) for kind "pr"; ``thresholds`` gives
    the score at each point (inf for the starting point).
    """

    kind: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    thresholds: tuple[float, ...]

    def to_dict(self) -> dict:
        thresholds = [_num(t) for t in self.thresholds]  # the starting point's inf becomes None
        return {"kind": self.kind, "x": list(self.x), "y": list(self.y), "thresholds": thresholds}

    @classmethod
    def from_dict(cls, d: dict) -> Curve:
        """Inverse of :meth:`to_dict` (a None threshold is the starting point's inf)."""
        thresholds = tuple(np.inf if t is None else float(t) for t in d["thresholds"])
        return cls(d["kind"], tuple(map(float, d["x"])), tuple(map(float, d["y"])), thresholds)


@dataclass(frozen=True)
class MetricValue:
    """A metric's point estimate and its block-bootstrap percentile interval."""

    name: str
    value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        return {
            "metric": self.name,
            "value": _num(self.value),
            "ci_low": _num(self.ci_low),
            "ci_high": _num(self.ci_high),
        }

    @classmethod
    def from_dict(cls, d: dict) -> MetricValue:
        """Inverse of :meth:`to_dict` (None is NaN)."""
        return cls(d["metric"], _float(d["value"]), _float(d["ci_low"]), _float(d["ci_high"]))


@dataclass(frozen=True)
class UnitSummary:
    """Distribution of a per-unit metric over real units; unscored units are counted, never dropped silently.

    ``n_no_spike`` counts real units without a test spike, ``n_no_nonspike`` units that spiked in every
    test bin; ``n_scored`` units have a finite value.
    """

    metric: str
    mean: float
    median: float
    q25: float
    q75: float
    n_units: int
    n_scored: int
    n_no_spike: int
    n_no_nonspike: int

    @classmethod
    def from_values(cls, metric: str, values: np.ndarray, targets: np.ndarray, unit_mask: np.ndarray):
        """Summarise ``values`` (N,) over real units of ``unit_mask``; ``targets`` (T, N) gives the counts."""
        n_spk = targets[:, unit_mask].sum(axis=0)
        return cls.from_counts(metric, values, n_spk, targets.shape[0], unit_mask)

    @classmethod
    def from_counts(
        cls, metric: str, values: np.ndarray, n_spk: np.ndarray, n_bins: int, unit_mask: np.ndarray
    ):
        """:meth:`from_values` from each real unit's test spike count ``n_spk`` (R,) in ``n_bins`` bins."""
        vals = np.asarray(values, dtype=float)[unit_mask]
        scored = vals[np.isfinite(vals)]
        q = np.quantile(scored, [0.25, 0.5, 0.75]) if scored.size else np.full(3, np.nan)
        return cls(
            metric,
            float(scored.mean()) if scored.size else np.nan,
            float(q[1]),
            float(q[0]),
            float(q[2]),
            int(vals.size),
            int(scored.size),
            int((n_spk == 0).sum()),
            int((n_spk == n_bins).sum()),
        )

    def to_dict(self) -> dict:
        return {k: _num(v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict) -> UnitSummary:
        """Inverse of :meth:`to_dict` (None is NaN)."""
        counts = ("n_units", "n_scored", "n_no_spike", "n_no_nonspike")
        return cls(
            **{k: int(v) if k in counts else (v if k == "metric" else _float(v)) for k, v in d.items()}
        )


def _float(x) -> float:
    """Inverse of :func:`_num` for a float: None is NaN."""
    return np.nan if x is None else float(x)


def _num(x):
    """JSON-friendly number: Python float/int/str, None for NaN."""
    if isinstance(x, (str, bool, int, np.integer)):
        return x if not isinstance(x, np.integer) else int(x)
    x = float(x)
    return x if np.isfinite(x) else None


@dataclass(frozen=True)
class EvaluationResult:
    """Every metric of one model on one test part, with block-bootstrap intervals over time.

    ``metrics`` holds scalar metrics (pooled values and means/medians of per-unit values);
    ``per_unit`` maps a metric name to its (N,) values (None/NaN for padding and unscored units);
    ``summaries`` describe the per-unit distributions; curves are pooled and downsampled (None when
    not asked for, e.g. in matrix cells, which store scalar metrics only);
    ``bits_source`` says which probabilities bits per spike scored (uncalibrated, or calibrated on
    validation); ``bootstrap`` describes the resampling, with the block length and how it was chosen.
    """

    n_bins: int
    n_units: int
    n_padding: int
    n_spikes: int
    threshold: float
    threshold_source: str
    calibration: str
    level: float
    bootstrap: dict
    metrics: tuple[MetricValue, ...]
    summaries: tuple[UnitSummary, ...]
    per_unit: dict
    roc_curve: Curve | None
    pr_curve: Curve | None
    bits_source: str = ""

    def metric(self, name: str) -> MetricValue:
        """The scalar metric called ``name`` (see ``[m.name for m in result.metrics]``)."""
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"no metric {name!r}; available: {[m.name for m in self.metrics]}")

    def to_rows(self) -> list[dict]:
        """Tidy rows (metric, value, ci_low, ci_high), one per scalar metric, then the threshold."""
        rows = [m.to_dict() for m in self.metrics]
        rows.append({"metric": "threshold", "value": _num(self.threshold), "ci_low": None, "ci_high": None})
        return rows

    def to_dict(self) -> dict:
        return {
            "n_bins": self.n_bins,
            "n_units": self.n_units,
            "n_padding": self.n_padding,
            "n_spikes": self.n_spikes,
            "threshold": _num(self.threshold),
            "threshold_source": self.threshold_source,
            "calibration": self.calibration,
            "bits_source": self.bits_source,
            "level": self.level,
            "bootstrap": dict(self.bootstrap),
            "metrics": [m.to_dict() for m in self.metrics],
            "summaries": [s.to_dict() for s in self.summaries],
            "per_unit": {k: [_num(v) for v in vals] for k, vals in self.per_unit.items()},
            "roc_curve": self.roc_curve and self.roc_curve.to_dict(),
            "pr_curve": self.pr_curve and self.pr_curve.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> EvaluationResult:
        """Inverse of :meth:`to_dict`: the same result read back from a store (None is NaN)."""
        curve = {k: d[k] and Curve.from_dict(d[k]) for k in ("roc_curve", "pr_curve")}
        return cls(
            n_bins=int(d["n_bins"]),
            n_units=int(d["n_units"]),
            n_padding=int(d["n_padding"]),
            n_spikes=int(d["n_spikes"]),
            threshold=_float(d["threshold"]),
            threshold_source=d["threshold_source"],
            calibration=d["calibration"],
            level=float(d["level"]),
            bootstrap=dict(d["bootstrap"]),
            metrics=tuple(MetricValue.from_dict(m) for m in d["metrics"]),
            summaries=tuple(UnitSummary.from_dict(s) for s in d["summaries"]),
            per_unit={k: tuple(_float(v) for v in vals) for k, vals in d["per_unit"].items()},
            bits_source=d.get("bits_source", ""),
            **curve,
        )
