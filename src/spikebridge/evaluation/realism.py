"""Realism of generated spike trains: the statistics neuroscientists use, and a distance for each.

Every statistic is computed on a binary raster ``(T, N)`` of 1 ms bins (the ``bin_size`` of the
data), real columns only (padding columns are dropped first). A *candidate* raster (generated, a
baseline's sample, or another real stretch) is compared with a *reference* raster of held-out real
activity of the same duration; each comparison yields one distance per statistic:

=====================  =====  ===========================================================================
distance               best   definition
=====================  =====  ===========================================================================
``rate_corr``          high   Pearson correlation, over units, of the firing rates (Hz)
``rate_rel_error``     low    median over units with a reference spike of ``|rate_c - rate_r| / rate_r``
``isi_ks``             low    mean over *eligible* units of the two-sample Kolmogorov-Smirnov statistic
                              between the inter-spike-interval distributions (ISIs in bins)
``cv_abs_diff``        low    mean over eligible units of ``|CV_c - CV_r|``, CV = SD / mean of the ISIs
``fano_log_ratio``     low    mean over units with spikes in both of ``|ln(F_c / F_r)|``, F = variance /
                              mean of the spike counts in non-overlapping ``fano_window_ms`` windows
``corr_<b>ms``         high   Pearson correlation between the upper triangles of the two matrices of
                              pairwise spike-count correlations at ``b`` ms bins (b in ``corr_bins_ms``),
                              over pairs whose counts vary in both rasters
``poprate_ks``         low    KS statistic between the distributions of the population spike count per
                              ``pop_bin_ms`` bin (bursts and synchrony widen it)
``psd_db``             low    RMS over frequencies in ``psd_band_hz`` of ``10 log10(P_c / P_r)``, P = Welch
                              power spectrum (Hann, ``psd_segment_s`` segments) of the population count
                              per bin, mean removed (slow waves, oscillations, overall level)
``ccg_rmse``           low    mean over the reference's ``n_ccg_pairs`` most active pairs of the RMS over
                              lags ``-ccg_max_lag_ms .. ccg_max_lag_ms`` of the difference between the
                              normalised cross-correlograms ``C(tau) = E[x_i(t) x_j(t + tau)] / (p_i p_j) - 1``
                              (0 for independent units)
=====================  =====  ===========================================================================

Columns are ordered by training firing rate in every prepared recording, so ``rate_corr`` is high
for any two recordings with similarly skewed rates (a slice model after an in vivo prefix scored 0.94
against the in vivo test part while its rates were twice too high); ``rate_rel_error`` is the
stricter rate statistic.

A unit is *eligible* for the ISI statistics when it has at least ``min_spikes`` spikes in both
rasters; the number of units each per-unit distance used is reported (``n_units_<distance>``).
The most active pairs are the pairs among the reference's most active units with the largest product
of reference rates. Distances of several trials are averaged over trials (SD beside them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.signal import fftconvolve, welch

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

PER_UNIT = ("rate_rel_error", "isi_ks", "cv_abs_diff", "fano_log_ratio")


@dataclass(frozen=True)
class RealismConfig:
    """Parameters of the realism statistics (see the module docstring)."""

    bin_size: float = 1e-3
    min_spikes: int = 20
    fano_window_ms: int = 100
    corr_bins_ms: tuple[int, ...] = (5, 20, 100)
    pop_bin_ms: int = 10
    psd_band_hz: tuple[float, float] = (1.0, 100.0)
    psd_segment_s: float = 2.0
    n_ccg_pairs: int = 10
    ccg_max_lag_ms: int = 50

    def __post_init__(self) -> None:
        ints = ("min_spikes", "fano_window_ms", "pop_bin_ms", "n_ccg_pairs", "ccg_max_lag_ms")
        for name in ints:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SpikebridgeConfigError(f"{name} must be a positive integer, got {value!r}")
        if not self.corr_bins_ms or any(int(b) < 1 for b in self.corr_bins_ms):
            raise SpikebridgeConfigError(f"corr_bins_ms must be positive, got {self.corr_bins_ms!r}")
        lo, hi = self.psd_band_hz
        if not 0 <= lo < hi <= 0.5 / self.bin_size:
            raise SpikebridgeConfigError(f"psd_band_hz must lie in [0, Nyquist], got {self.psd_band_hz!r}")
        if not self.bin_size > 0 or not self.psd_segment_s > 0:
            raise SpikebridgeConfigError("bin_size and psd_segment_s must be positive")

    def bins(self, ms: float) -> int:
        """Number of raster bins in ``ms`` milliseconds (at least 1)."""
        return max(1, int(round(ms * 1e-3 / self.bin_size)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def metric_names(config: RealismConfig) -> tuple[str, ...]:
    corr = tuple(f"corr_{b}ms" for b in config.corr_bins_ms)
    return ("rate_corr", "rate_rel_error", "isi_ks", "cv_abs_diff", "fano_log_ratio", *corr, "poprate_ks",
            "psd_db", "ccg_rmse")  # fmt: skip


def higher_is_better(metric: str) -> bool:
    return metric == "rate_corr" or metric.startswith("corr_")


@dataclass(frozen=True)
class RasterStats:
    """The statistics of one raster ``(T, R)`` of real units (see the module docstring).

    ``rates`` (Hz), ``n_spikes``, ``cv``, ``fano`` are per unit ``(R,)`` (NaN where undefined);
    ``isis`` one array of ISIs (bins) per unit; ``corr`` maps a bin size (ms) to an ``(R, R)``
    correlation matrix (NaN rows for units whose counts do not vary); ``pop_counts`` the population
    count per ``pop_bin_ms`` bin; ``psd_freqs``/``psd`` the Welch spectrum.
    """

    raster: np.ndarray = field(repr=False)
    rates: np.ndarray
    n_spikes: np.ndarray
    isis: tuple[np.ndarray, ...] = field(repr=False)
    cv: np.ndarray
    fano: np.ndarray
    corr: dict[int, np.ndarray] = field(repr=False)
    pop_counts: np.ndarray = field(repr=False)
    psd_freqs: np.ndarray
    psd: np.ndarray


def _counts(raster: np.ndarray, width: int) -> np.ndarray:
    """Spike counts in non-overlapping windows of ``width`` bins ``(T // width, R)`` (the tail is dropped)."""
    n = raster.shape[0] // width
    return raster[: n * width].reshape(n, width, -1).sum(axis=1, dtype=np.int32)  # (W, R)


def _corr_matrix(counts: np.ndarray) -> np.ndarray:
    """Pearson correlations of the count columns ``(W, R)``; rows/columns of constant units are NaN."""
    x = counts.astype(np.float64)
    x -= x.mean(axis=0)
    sd = np.sqrt((x * x).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x.T @ x) / np.outer(sd, sd)  # (R, R)


def raster_stats(raster: np.ndarray, config: RealismConfig) -> RasterStats:
    """Compute :class:`RasterStats` of a binary raster ``(T, R)`` of real units."""
    raster = np.asarray(raster, dtype=bool)
    if raster.ndim != 2 or raster.shape[0] < 2 * config.bins(config.psd_segment_s * 1000):
        raise SpikebridgeDataError(
            f"realism statistics need a (T, R) raster of at least two {config.psd_segment_s} s segments, "
            f"got shape {raster.shape}"
        )
    seconds = raster.shape[0] * config.bin_size
    n_spikes = raster.sum(axis=0)
    isis = tuple(np.diff(np.flatnonzero(raster[:, i])) for i in range(raster.shape[1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = np.array([i.std() / i.mean() if i.size + 1 >= config.min_spikes else np.nan for i in isis])
        fc = _counts(raster, config.bins(config.fano_window_ms))
        fano = np.where(fc.mean(axis=0) > 0, fc.var(axis=0) / fc.mean(axis=0), np.nan)
    corr = {int(b): _corr_matrix(_counts(raster, config.bins(b))) for b in config.corr_bins_ms}
    pop = raster.sum(axis=1, dtype=np.int32)  # (T,) population count per bin
    seg = config.bins(config.psd_segment_s * 1000)
    freqs, psd = welch(pop.astype(np.float64), fs=1.0 / config.bin_size, nperseg=seg, detrend="constant")
    pop_counts = _counts(pop[:, None], config.bins(config.pop_bin_ms))[:, 0]
    return RasterStats(raster, n_spikes / seconds, n_spikes, isis, cv, fano, corr, pop_counts, freqs, psd)


def top_pairs(stats: RasterStats, n_pairs: int) -> list[tuple[int, int]]:
    """The ``n_pairs`` unit pairs with the largest product of rates (both units spiking)."""
    active = np.flatnonzero(stats.n_spikes > 0)
    order = active[np.argsort(-stats.rates[active], kind="stable")]
    pairs = [(int(a), int(b)) for i, a in enumerate(order) for b in order[i + 1 :]]
    pairs.sort(key=lambda p: -stats.rates[p[0]] * stats.rates[p[1]])
    return pairs[:n_pairs]


def cross_correlogram(raster: np.ndarray, i: int, j: int, max_lag: int) -> np.ndarray:
    """``C(tau) = mean_t x_i(t) x_j(t + tau) / (p_i p_j) - 1`` for ``tau = -max_lag .. max_lag`` bins.

    ``p`` are the units' spike probabilities per bin; the mean at lag ``tau`` runs over the
    ``T - |tau|`` overlapping bins. NaN when a unit never spikes.
    """
    xi, xj = raster[:, i].astype(np.float64), raster[:, j].astype(np.float64)
    t = xi.size
    pi, pj = xi.mean(), xj.mean()
    if pi == 0 or pj == 0:
        return np.full(2 * max_lag + 1, np.nan)
    full = fftconvolve(xj, xi[::-1], mode="full")  # index t - 1 + tau holds sum_t x_i(t) x_j(t + tau)
    lags = np.arange(-max_lag, max_lag + 1)
    coincid = np.rint(full[t - 1 + lags]) / (t - np.abs(lags))
    return coincid / (pi * pj) - 1.0


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic ``max |F_a - F_b|`` of two non-empty samples.

    The statistic of :func:`scipy.stats.ks_2samp`, without its exact p-value (the realism distances
    use the statistic only; the exact p-value of two samples of thousands of ISIs cost 20 ms each).
    """
    a, b = np.sort(a), np.sort(b)
    both = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, both, side="right") / a.size
    cdf_b = np.searchsorted(b, both, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def _ks_mean(a: RasterStats, r: RasterStats, min_spikes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit ISI KS statistic (NaN for non-eligible units) and per-unit |CV difference|."""
    ks = np.full(r.rates.size, np.nan)
    for u in range(r.rates.size):
        if min(a.n_spikes[u], r.n_spikes[u]) >= min_spikes:
            ks[u] = ks_statistic(a.isis[u], r.isis[u])
    cv = np.where(np.isfinite(ks), np.abs(a.cv - r.cv), np.nan)
    return ks, cv


def _upper_corr(a: np.ndarray, r: np.ndarray) -> float:
    iu = np.triu_indices_from(r, k=1)
    x, y = a[iu], r[iu]
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def _nanmean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def compare(
    candidate: RasterStats, reference: RasterStats, config: RealismConfig
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Distances of ``candidate`` from ``reference`` (same units, same duration).

    Returns
    -------
    distances : dict of str to float
        One value per name of :func:`metric_names`, plus ``n_units_<name>`` counts for per-unit ones.
    per_unit : dict of str to ndarray ``(R,)``
        The per-unit distances (NaN where a unit is not eligible), for tests paired over units.
    """
    if candidate.rates.shape != reference.rates.shape:
        raise SpikebridgeDataError(
            f"candidate has {candidate.rates.size} units, reference {reference.rates.size}"
        )
    r_rate, c_rate = reference.rates, candidate.rates
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(r_rate > 0, np.abs(c_rate - r_rate) / r_rate, np.nan)
        fano = np.abs(np.log(candidate.fano / reference.fano))
    ks, cv = _ks_mean(candidate, reference, config.min_spikes)
    per_unit = {"rate_rel_error": rel, "isi_ks": ks, "cv_abs_diff": cv, "fano_log_ratio": fano}
    out: dict[str, float] = {
        "rate_corr": _pearson(c_rate, r_rate),
        "rate_rel_error": float(np.nanmedian(rel)) if np.isfinite(rel).any() else float("nan"),
        "isi_ks": _nanmean(ks),
        "cv_abs_diff": _nanmean(cv),
        "fano_log_ratio": _nanmean(fano),
    }
    for b in config.corr_bins_ms:
        out[f"corr_{b}ms"] = _upper_corr(candidate.corr[int(b)], reference.corr[int(b)])
    out["poprate_ks"] = ks_statistic(candidate.pop_counts, reference.pop_counts)
    out["psd_db"] = _psd_distance(candidate, reference, config)
    out["ccg_rmse"] = _ccg_distance(candidate, reference, config)
    for name, values in per_unit.items():
        out[f"n_units_{name}"] = int(np.isfinite(values).sum())
    return out, per_unit


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _psd_distance(candidate: RasterStats, reference: RasterStats, config: RealismConfig) -> float:
    lo, hi = config.psd_band_hz
    band = (reference.psd_freqs >= lo) & (reference.psd_freqs <= hi)
    c, r = candidate.psd[band], reference.psd[band]
    if not band.any() or np.any(c <= 0) or np.any(r <= 0):
        return float("nan")
    return float(np.sqrt(np.mean((10.0 * np.log10(c / r)) ** 2)))


def _ccg_distance(candidate: RasterStats, reference: RasterStats, config: RealismConfig) -> float:
    lag = config.bins(config.ccg_max_lag_ms)
    errors = []
    for i, j in top_pairs(reference, config.n_ccg_pairs):
        c = cross_correlogram(candidate.raster, i, j, lag)
        r = cross_correlogram(reference.raster, i, j, lag)
        if np.isfinite(c).all():
            errors.append(np.sqrt(np.mean((c - r) ** 2)))
    return float(np.mean(errors)) if errors else float("nan")
