"""Stationarity of population activity: the augmented Dickey-Fuller test at several bin sizes.

The paper tests whether in vivo activity is less stationary than in vitro activity with an ADF test.
Here every recording's population activity (spikes of its real units summed per bin) over the analysed
window is tested at bin sizes where a unit root is a meaningful question: at 1 ms the count is nearly
white noise and trivially "stationary", so the defaults are 10 ms, 100 ms and 1 s. The ADF null
hypothesis is a unit root (non-stationary); a small p-value means stationary around a constant
(``regression="c"``). The in vitro vs in vivo comparison is a two-sided Mann-Whitney U test of the ADF
statistics per bin size, made only when each group has at least two recordings; otherwise the groups
are described and the test is reported as not possible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

DEFAULT_BINS_MS = (10.0, 100.0, 1000.0)
MIN_SAMPLES = 50


def _num(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


@dataclass(frozen=True)
class StationarityRow:
    """ADF test of one recording's population activity at one bin size."""

    recording: str
    preparation: str
    bin_ms: float
    n_samples: int
    statistic: float
    p_value: float
    n_lags: int
    stationary_05: bool

    def to_dict(self) -> dict:
        out = asdict(self)
        out["statistic"], out["p_value"] = _num(self.statistic), _num(self.p_value)
        return out


@dataclass(frozen=True)
class PreparationComparison:
    """In vitro vs in vivo ADF statistics at one bin size."""

    bin_ms: float
    n_in_vitro: int
    n_in_vivo: int
    median_in_vitro: float
    median_in_vivo: float
    stationary_in_vitro: int
    stationary_in_vivo: int
    test: str
    statistic: float
    p_value: float

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("median_in_vitro", "median_in_vivo", "statistic", "p_value"):
            out[key] = _num(out[key])
        return out


def population_activity(raster: np.ndarray, unit_mask: np.ndarray, factor: int) -> np.ndarray:
    """Spikes of the real units summed over blocks of ``factor`` bins -> ``(T // factor,)`` float."""
    raster = np.asarray(raster)
    if factor < 1:
        raise SpikebridgeConfigError(f"bin factor must be >= 1, got {factor}")
    counts = raster[:, np.asarray(unit_mask, dtype=bool)].sum(axis=1, dtype=np.int64)  # (T,)
    n = counts.size // factor
    return counts[: n * factor].reshape(n, factor).sum(axis=1).astype(float)  # (T // factor,)


def adf_population(
    raster: np.ndarray,
    unit_mask: np.ndarray,
    bin_size_s: float,
    recording: str = "",
    preparation: str = "",
    bins_ms: tuple[float, ...] = DEFAULT_BINS_MS,
    regression: str = "c",
) -> list[StationarityRow]:
    """ADF test of the population activity at every bin size that yields at least ``MIN_SAMPLES`` values.

    Parameters
    ----------
    raster : ndarray ``(T, N)`` bool
        The analysed window at ``bin_size_s`` per bin.
    unit_mask : ndarray ``(N,)`` bool
    bin_size_s : float
        Bin size of ``raster`` in seconds.
    bins_ms : tuple of float
        Bin sizes to test, multiples of the raster's bin size (ms).
    """
    from spikebridge.evaluation.stats import adf_test

    rows = []
    for bin_ms in bins_ms:
        factor = int(round(bin_ms / 1000.0 / bin_size_s))
        if factor < 1 or not np.isclose(factor * bin_size_s * 1000.0, bin_ms):
            raise SpikebridgeConfigError(f"ADF bin {bin_ms} ms is not a multiple of {bin_size_s * 1000} ms")
        series = population_activity(raster, unit_mask, factor)
        if series.size < MIN_SAMPLES or np.ptp(series) == 0:
            continue
        res = adf_test(series, regression=regression)
        rows.append(StationarityRow(recording, preparation, float(bin_ms), int(series.size), res.statistic,
                                    res.p_value, res.n_lags, bool(res.p_value < 0.05)))  # fmt: skip
    if not rows:
        raise SpikebridgeDataError(f"{recording or 'raster'}: too short or silent for an ADF test")
    return rows


def compare_preparations(rows: list[StationarityRow]) -> list[PreparationComparison]:
    """In vitro vs in vivo ADF statistics for every bin size (see the module docstring)."""
    from scipy.stats import mannwhitneyu

    out = []
    for bin_ms in sorted({r.bin_ms for r in rows}):
        groups = {
            prep: [r for r in rows if r.bin_ms == bin_ms and r.preparation == prep]
            for prep in ("in_vitro", "in_vivo")
        }
        stats = {k: np.array([r.statistic for r in v]) for k, v in groups.items()}
        vitro, vivo = stats["in_vitro"], stats["in_vivo"]
        test, stat, p = "not possible: needs at least two recordings of each preparation", np.nan, np.nan
        if vitro.size >= 2 and vivo.size >= 2:
            res = mannwhitneyu(vitro, vivo, alternative="two-sided")
            test, stat, p = (
                "Mann-Whitney U of ADF statistics (two-sided)",
                float(res.statistic),
                float(res.pvalue),
            )
        out.append(PreparationComparison(
            bin_ms, vitro.size, vivo.size,
            float(np.median(vitro)) if vitro.size else np.nan, float(np.median(vivo)) if vivo.size else np.nan,
            sum(r.stationary_05 for r in groups["in_vitro"]), sum(r.stationary_05 for r in groups["in_vivo"]),
            test, stat, p,
        ))  # fmt: skip
    return out
