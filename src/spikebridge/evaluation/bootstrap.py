"""Block bootstrap over time for spike-prediction metrics.

Neighbouring 1 ms bins are strongly dependent (bursts, refractoriness, network events), so an i.i.d.
bootstrap over bins gives intervals that are far too narrow. A moving (optionally circular) block
bootstrap resamples contiguous blocks of bins instead.

For speed the time axis is cut into *segments* of ``stride`` bins, and block starts are drawn on the
segment grid, so that every resample is a vector of segment multiplicities. Any statistic that is a
function of per-segment sums (counts, log-likelihoods, influence-function sums) is then evaluated for
all resamples at once with one matrix product: ``weights (n_boot, n_seg) @ sums (n_seg, ...)``.
With ``stride=1`` this is the ordinary moving block bootstrap.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.evaluation.result_types import MetricValue


@dataclass(frozen=True)
class BlockBootstrap:
    """A seeded moving/circular block bootstrap over ``n_bins`` time bins.

    Parameters
    ----------
    n_bins : int
        Length of the time axis (bins).
    block_len : int
        Block length in bins (1000 bins = 1 s at 1 ms binning).
    n_boot : int
        Number of resamples (0: no resampling; intervals are then NaN).
    seed : int
        Seed of the random generator; the same seed gives the same resamples.
    circular : bool
        If True blocks wrap around the end of the series (circular block bootstrap), so every bin is
        equally likely to be drawn; otherwise blocks start in ``[0, n_bins - block_len]``.
    stride : int or None
        Segment length in bins (block starts lie on multiples of it). None means ``max(1, block_len // 10)``.
    """

    n_bins: int
    block_len: int = 1000
    n_boot: int = 200
    seed: int = 0
    circular: bool = True
    stride: int | None = None

    def __post_init__(self) -> None:
        for name in ("n_bins", "block_len"):
            if int(getattr(self, name)) < 1:
                raise SpikebridgeConfigError(f"BlockBootstrap.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_boot < 0:
            raise SpikebridgeConfigError(f"BlockBootstrap.n_boot must be >= 0, got {self.n_boot}")
        if self.stride is not None and self.stride < 1:
            raise SpikebridgeConfigError(f"BlockBootstrap.stride must be >= 1, got {self.stride}")

    @property
    def segment_len(self) -> int:
        """Segment length in bins (the grid of block starts)."""
        if self.stride is not None:
            return int(min(self.stride, self.n_bins))
        return int(min(max(1, self.block_len // 10), self.n_bins))

    @property
    def n_segments(self) -> int:
        """Number of segments covering the time axis (the last may be shorter)."""
        return int(-(-self.n_bins // self.segment_len))

    def segment_ids(self) -> np.ndarray:
        """Segment index of every bin, shape (n_bins,), int."""
        return np.arange(self.n_bins) // self.segment_len

    def segment_counts(self) -> np.ndarray:
        """Raw number of times each segment is drawn, shape (n_boot, n_segments), int."""
        n_seg = self.n_segments
        blk_seg = max(1, int(round(self.block_len / self.segment_len)))  # block length in segments
        blk_seg = min(blk_seg, n_seg)
        n_blocks = int(-(-n_seg // blk_seg))
        rng = np.random.default_rng(self.seed)
        n_starts = n_seg if self.circular else n_seg - blk_seg + 1
        starts = rng.integers(0, n_starts, size=(self.n_boot, n_blocks))
        idx = (starts[:, :, None] + np.arange(blk_seg)[None, None, :]) % n_seg  # (B, blocks, blk_seg)
        idx = idx.reshape(self.n_boot, n_blocks * blk_seg)
        counts = np.zeros((self.n_boot, n_seg), dtype=np.int64)
        np.add.at(counts, (np.repeat(np.arange(self.n_boot), idx.shape[1]), idx.ravel()), 1)
        return counts

    def segment_weights(self) -> np.ndarray:
        """Multiplicity of every segment in every resample, normalised.

        Returns
        -------
        weights : ndarray, shape (n_boot, n_segments), float
            ``segment_counts()`` rescaled so that every row covers exactly ``n_bins`` bins
            (mean weight per bin is 1). Ratio statistics do not depend on the rescaling.
        """
        counts = self.segment_counts().astype(float)
        seg_sizes = np.bincount(self.segment_ids(), minlength=self.n_segments).astype(float)
        covered = counts @ seg_sizes  # (B,) bins in each resample
        return counts * (self.n_bins / covered)[:, None]

    def indices(self, b: int) -> np.ndarray:
        """Time indices of resample ``b`` (grouped by segment), shape (about n_bins,), int."""
        counts = self.segment_counts()[b]
        seg_len = self.segment_len
        parts = [
            np.tile(np.arange(s * seg_len, min((s + 1) * seg_len, self.n_bins)), c)
            for s, c in enumerate(counts)
            if c > 0
        ]
        return np.concatenate(parts)

    def to_dict(self) -> dict:
        """JSON-friendly description of the bootstrap."""
        out = asdict(self)
        out["segment_len"] = self.segment_len
        return out


class Resampler:
    """Evaluates statistics on every resample of a ``BlockBootstrap`` from per-segment sums.

    Parameters
    ----------
    boot : BlockBootstrap
    level : float
        Coverage of the percentile intervals.
    """

    def __init__(self, boot: BlockBootstrap, level: float = 0.95):
        self.weights = boot.segment_weights()  # (B, n_seg), mean weight per bin = 1
        self.seg_len = boot.segment_len
        self.n_boot = boot.n_boot
        self.level = level

    def total(self, per_bin: np.ndarray) -> np.ndarray:
        """Resampled totals of a per-bin quantity: (T,) or (T, K) -> (B,) or (B, K).

        With no resamples (``n_boot == 0``) the empty (0,) or (0, K) result is returned without
        reading ``per_bin``.
        """
        if self.n_boot == 0:
            return np.zeros((0, *np.shape(per_bin)[1:]))
        return self.weights @ segment_sums(per_bin, self.seg_len)

    def linear(self, point, infl: np.ndarray) -> np.ndarray:
        """First-order replicates: point estimate(s) plus resampled influence sums; infl (T,) or (T, K)."""
        return np.asarray(point) + self.total(infl)

    def interval(self, reps: np.ndarray) -> tuple:
        """Percentile interval of replicates (B, ...) at ``level``."""
        return percentile_interval(reps, self.level)

    def value(self, name: str, point: float, reps: np.ndarray) -> MetricValue:
        """A ``MetricValue``: the point estimate and the percentile interval of its replicates (B,)."""
        low, high = self.interval(reps)
        return MetricValue(name, float(point), low, high)

    def unit_values(self, key: str, point: np.ndarray, reps: np.ndarray) -> list[MetricValue]:
        """``{key}_unit_mean`` and ``{key}_unit_median`` over scored units (finite ``point``), with intervals.

        Parameters
        ----------
        key : str
        point : ndarray, shape (R,)
            Per-unit values (NaN for units that cannot be scored, which are left out).
        reps : ndarray, shape (B, R)
            Their bootstrap replicates (a resample may lose a unit's spikes: NaN is left out).
        """
        ok = np.isfinite(point)
        if not ok.any():
            return [MetricValue(f"{key}_unit_{s}", np.nan, np.nan, np.nan) for s in ("mean", "median")]
        reps = np.where(np.isfinite(reps[:, ok]), reps[:, ok], np.nan)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN replicate rows give NaN
            return [
                self.value(f"{key}_unit_mean", point[ok].mean(), np.nanmean(reps, axis=1)),
                self.value(f"{key}_unit_median", np.median(point[ok]), np.nanmedian(reps, axis=1)),
            ]


def segment_sums(values: np.ndarray, segment_len: int) -> np.ndarray:
    """Sum ``values`` over consecutive segments of ``segment_len`` bins along the time axis.

    Parameters
    ----------
    values : ndarray, shape (T,) or (T, K)
        Per-bin quantities.
    segment_len : int
        Segment length in bins (``BlockBootstrap.segment_len``); the last segment may be shorter.

    Returns
    -------
    sums : ndarray, shape (ceil(T / segment_len),) or (ceil(T / segment_len), K), float
    """
    values = np.asarray(values, dtype=float)
    starts = np.arange(0, values.shape[0], segment_len)
    return np.add.reduceat(values, starts, axis=0)


def percentile_interval(replicates: np.ndarray, level: float = 0.95, axis: int = 0) -> tuple:
    """Percentile interval of bootstrap replicates, ignoring NaN replicates.

    Parameters
    ----------
    replicates : ndarray, shape (n_boot, ...)
    level : float
        Coverage, e.g. 0.95.
    axis : int
        Axis of the replicates.

    Returns
    -------
    (low, high) : tuple of float or ndarray, shape of ``replicates`` without ``axis``
    """
    if not 0.0 < level < 1.0:
        raise SpikebridgeConfigError(f"confidence level must be in (0, 1), got {level}")
    alpha = (1.0 - level) / 2.0
    rep = np.moveaxis(np.asarray(replicates, dtype=float), axis, 0)
    if rep.shape[0] == 0:  # no resamples: no interval
        nan = np.full(rep.shape[1:], np.nan)
        return (np.nan, np.nan) if nan.ndim == 0 else (nan, nan.copy())
    with warnings.catch_warnings():  # all-NaN columns give NaN bounds
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(rep, [alpha, 1.0 - alpha], axis=0)
    if np.ndim(low) == 0:
        return float(low), float(high)
    return low, high


# --------------------------------------------------------------------------------------------------
# Block length from the data
# --------------------------------------------------------------------------------------------------

BLOCK_RULE = "population-count autocorrelation"


@dataclass(frozen=True)
class BlockLength:
    """A bootstrap block length chosen from the data, and why.

    Attributes
    ----------
    bins : int
        Block length in bins.
    seconds : float
        The same in seconds.
    acf_lag_s : float
        First lag (s, on the ``resolution_s`` grid) from which the population-count autocorrelation
        stays below ``threshold`` for ``persist_s``; NaN when it never does within ``max_s`` or the
        count is constant.
    threshold, resolution_s, min_s, max_s, persist_s : float
        The rule's settings (see :func:`block_length_from_counts`).
    limited_by : str
        "autocorrelation" (the lag decided), "minimum" (the lag was shorter than ``min_s``),
        "maximum" (the autocorrelation stayed above ``threshold`` up to ``max_s``) or "constant".
    source : str
        What the counts came from (e.g. "test targets").
    """

    bins: int
    seconds: float
    acf_lag_s: float
    threshold: float
    resolution_s: float
    min_s: float
    max_s: float
    limited_by: str
    source: str = ""
    persist_s: float = 1.0

    def describe(self) -> str:
        """E.g. "5.0 s blocks (population-count autocorrelation < 0.1 from 4.9 s; test targets)"."""
        if self.limited_by == "autocorrelation":
            why = f"population-count autocorrelation < {self.threshold:g} from {self.acf_lag_s:.1f} s on"
        elif self.limited_by == "minimum":
            why = f"autocorrelation < {self.threshold:g} already at {self.acf_lag_s:.1f} s; minimum {self.min_s:g} s"
        elif self.limited_by == "maximum":
            why = f"autocorrelation still >= {self.threshold:g} at the maximum of {self.max_s:.1f} s"
        else:
            why = "constant population count; minimum length"
        return f"{self.seconds:.1f} s blocks ({why}{'; ' + self.source if self.source else ''})"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["acf_lag_s"] = None if not np.isfinite(self.acf_lag_s) else float(self.acf_lag_s)
        return out


def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation of a series at lags 0..max_lag (biased estimator, via FFT).

    Parameters
    ----------
    x : ndarray, shape (T,)
    max_lag : int

    Returns
    -------
    acf : ndarray, shape (min(max_lag, T - 1) + 1,)
        ``acf[0] == 1``; NaN everywhere when ``x`` is constant.
    """
    x = np.asarray(x, dtype=float).ravel()
    x = x - x.mean()
    n = x.size
    max_lag = int(min(max_lag, n - 1))
    denom = float(x @ x)
    if denom == 0.0:
        return np.full(max_lag + 1, np.nan)
    size = 1 << int(np.ceil(np.log2(2 * n)))  # zero padding: a linear, not circular, correlation
    spec = np.fft.rfft(x, size)
    acov = np.fft.irfft(spec * np.conj(spec), size)[: max_lag + 1]
    return acov / denom


def first_persistent_lag(acf: np.ndarray, threshold: float, run: int) -> int | None:
    """First lag k >= 1 with ``acf[k : k + run] < threshold`` throughout (fewer lags at the end), or None."""
    low = np.asarray(acf) < threshold
    return next((k for k in range(1, low.size) if low[k : k + run].all()), None)


def block_length_from_counts(
    counts: np.ndarray,
    bin_size: float,
    threshold: float = 0.1,
    resolution_s: float = 0.1,
    min_s: float = 1.0,
    max_fraction: float = 0.1,
    source: str = "",
    persist_s: float = 1.0,
) -> BlockLength:
    """Block length for a block bootstrap from the autocorrelation of a population spike count.

    The count per bin is summed into windows of ``resolution_s`` (so that the slow co-fluctuations that
    decide the variance of sums over many bins are not hidden by the spiking noise of single bins), and
    the block is the first lag from which the autocorrelation of the windowed count stays below
    ``threshold`` for ``persist_s`` (a single noisy dip does not end a slowly decaying correlation),
    bounded below by ``min_s`` and above by ``max_fraction`` of the series.

    Parameters
    ----------
    counts : ndarray, shape (T,)
        Population spike count per bin (spikes summed over real units).
    bin_size : float
        Bin width in seconds.
    threshold : float
        Autocorrelation level below which windows are treated as nearly independent.
    resolution_s : float
        Window of the summed counts and grid of the lags, seconds.
    min_s : float
        Shortest block, seconds.
    max_fraction : float
        Longest block as a fraction of the series (at least ``min_s``), so that it holds enough blocks.
    source : str
        What the counts are, recorded in the result.
    persist_s : float
        How long the autocorrelation must stay below ``threshold``, seconds (cut short by the end of
        the lags examined).

    Returns
    -------
    BlockLength
    """
    if not 0.0 < threshold < 1.0 or resolution_s <= 0 or min_s <= 0 or not 0.0 < max_fraction <= 1.0:
        raise SpikebridgeConfigError(
            f"block length rule needs 0 < threshold < 1, resolution_s > 0, min_s > 0 and "
            f"0 < max_fraction <= 1; got {threshold}, {resolution_s}, {min_s}, {max_fraction}"
        )
    counts = np.asarray(counts, dtype=float).ravel()
    n_bins = counts.size
    win = max(1, int(round(resolution_s / bin_size)))
    min_bins = max(1, int(round(min_s / bin_size)))
    max_bins = min(n_bins, max(min_bins, int(n_bins * max_fraction)))
    windowed = np.add.reduceat(counts, np.arange(0, n_bins - win + 1, win)) if n_bins >= win else counts
    acf = autocorrelation(windowed, max(1, max_bins // win))
    run = max(1, int(round(persist_s / (win * bin_size))))
    lag = first_persistent_lag(acf, threshold, run)
    below = np.array([] if lag is None else [lag], dtype=int)
    settings = dict(
        threshold=threshold,
        resolution_s=win * bin_size,
        min_s=min_s,
        max_s=max_bins * bin_size,
        persist_s=persist_s,
    )
    if not np.isfinite(acf).all():
        bins, lag_s, why = min_bins, np.nan, "constant"
    elif below.size == 0:
        bins, lag_s, why = max_bins, np.nan, "maximum"
    else:
        lag_bins = int(below[0]) * win
        lag_s = lag_bins * bin_size
        bins, why = (lag_bins, "autocorrelation") if lag_bins >= min_bins else (min_bins, "minimum")
        bins = min(bins, max_bins)
    bins = int(min(bins, n_bins))
    return BlockLength(bins, bins * bin_size, lag_s, limited_by=why, source=source, **settings)


def choose_block_length(
    raster: np.ndarray, unit_mask: np.ndarray, bin_size: float, source: str = "", **rule
) -> BlockLength:
    """:func:`block_length_from_counts` on the population count of a (T, N) raster's real units."""
    raster = np.asarray(raster)
    counts = raster[:, np.asarray(unit_mask, dtype=bool)].sum(axis=1)  # (T,)
    return block_length_from_counts(counts, bin_size, source=source, **rule)
