"""Bits per spike: the information a model's spike probabilities carry beyond a per-unit constant rate.

``bits/spike = (loglik(model) - loglik(null)) / (n_spikes * ln 2)`` with Bernoulli log-likelihoods of
the binary 1 ms bins, summed over units before dividing (pooled) or per unit. Two nulls:

- ``"nlb"`` (the headline, the Neural Latents Benchmark convention of ``nlb_tools``): each unit's mean
  spike probability over the scored bins themselves. A constant-rate model can never beat it, so a
  positive value means the model tracks *when* spikes come, not only how many. (NLB scores spike
  counts with a Poisson likelihood; for binary bins we use the Bernoulli likelihood with the same null.)
- ``"train"``: each unit's spike probability on the train part, the rate baseline's own prediction;
  against it a model also gains by following a change of rate between train and test.

Probabilities and null rates are clipped to ``[eps, 1 - eps]``. Block-bootstrap replicates are exact
ratios recomputed on every resample from per-segment sums, with both nulls held at their values on the
whole test part. For the NLB null this is first-order exact (the null is the maximum-likelihood rate,
so small changes of it do not change its likelihood to first order), whereas re-estimating it on every
resample would add its in-sample optimism to every replicate and bias the percentile interval
downwards, to the point of excluding the estimate for a model close to the null.
"""

from __future__ import annotations

import numpy as np

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.evaluation.bootstrap import Resampler, segment_sums
from spikebridge.evaluation.calibration import make_calibrator
from spikebridge.evaluation.result_types import MetricValue

NULLS = ("nlb", "train")
LOGLIK_CHUNK_BINS = 8192  # bins per chunk of the log-likelihood sums (a few MB of float64 per chunk)


def cell_loglik(probs: np.ndarray, targets: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Bernoulli log-likelihood of every (bin, unit) cell, nats, float64, shape of ``probs`` (T, R).

    Single-precision probabilities are widened before clipping, so ``eps`` is applied exactly.
    """
    p = np.asarray(probs, dtype=np.float64)
    p = np.clip(p, eps, 1.0 - eps, out=None if p is probs else p)  # in place only in a widened copy
    ll = np.negative(p)
    np.log1p(ll, out=ll)
    spikes = np.asarray(targets, dtype=bool)
    ll[spikes] = np.log(p[spikes])  # the same values as np.where, one logarithm per cell
    return ll


def loglik_sums(rs: Resampler, probs: np.ndarray, targets: np.ndarray, eps: float = 1e-6) -> tuple:
    """Per-unit log-likelihood sums (R,) nats and their resampled totals (B, R), in chunks of bins.

    The same numbers as ``cell_loglik(probs, targets).sum(axis=0)`` and ``rs.total(...)`` of it (up to the
    order of summation), without holding the (T, R) float64 log-likelihoods in memory. Chunks are whole
    bootstrap segments, so the segment sums are exactly those of the whole array.
    """
    T, R = probs.shape
    step = rs.seg_len * max(1, LOGLIK_CHUNK_BINS // rs.seg_len)
    total, segments = np.zeros(R), []
    for t0 in range(0, T, step):
        ll = cell_loglik(probs[t0 : t0 + step], targets[t0 : t0 + step], eps)  # (chunk, R)
        total += ll.sum(axis=0)
        if rs.n_boot:
            segments.append(segment_sums(ll, rs.seg_len))
    reps = rs.weights @ np.concatenate(segments) if segments else np.zeros((0, R))
    return total, reps


def constant_loglik(k: np.ndarray, n: np.ndarray, q: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Log-likelihood (nats) of ``k`` spikes in ``n`` bins under a constant spike probability ``q``."""
    q = np.clip(q, eps, 1.0 - eps)
    return k * np.log(q) + (n - k) * np.log1p(-q)


def null_rates(targets: np.ndarray, null: str, train_rates: np.ndarray | None = None) -> np.ndarray:
    """Per-unit null spike probability (R,): the scored bins' mean ("nlb") or the train rate ("train")."""
    if null == "nlb":
        return targets.mean(axis=0)
    if null == "train":
        if train_rates is None:
            raise SpikebridgeConfigError("the train-rate null needs train_rates")
        return np.asarray(train_rates, dtype=float)
    raise SpikebridgeConfigError(f"bits-per-spike null must be one of {NULLS}, got {null!r}")


def bits_per_spike(
    probs: np.ndarray,
    targets: np.ndarray,
    unit_mask: np.ndarray,
    train_rates: np.ndarray | None = None,
    eps: float = 1e-6,
    *,
    null: str = "nlb",
) -> tuple[float, np.ndarray]:
    """Information gain over a per-unit constant-rate null, in bits per spike.

    Parameters
    ----------
    probs : ndarray, shape (T, N), float
        Spike probabilities (calibrate scores that are not probabilities first).
    targets : ndarray, shape (T, N), bool
    unit_mask : ndarray, shape (N,), bool
    train_rates : ndarray, shape (N,), optional
        Per-bin spike probability of each unit on the train part (needed for ``null="train"``).
    eps : float
    null : {"nlb", "train"}
        See the module docstring.

    Returns
    -------
    (pooled, per_unit) : (float, ndarray of shape (N,))
        Pooled over real units, and per unit (NaN for padding and for units without a test spike).
    """
    probs = np.asarray(probs, dtype=float)
    targets, unit_mask = np.asarray(targets, dtype=bool), np.asarray(unit_mask, dtype=bool)
    if probs.shape != targets.shape or probs.ndim != 2 or unit_mask.shape != (probs.shape[1],):
        raise SpikebridgeDataError(
            f"probs {probs.shape}, targets {targets.shape} and unit_mask {unit_mask.shape}"
        )
    y = targets[:, unit_mask]
    rates = None if train_rates is None else np.asarray(train_rates, dtype=float)[unit_mask]
    q = null_rates(y, null, rates)
    k, n = y.sum(axis=0).astype(float), float(y.shape[0])
    gain = cell_loglik(probs[:, unit_mask], y, eps).sum(axis=0) - constant_loglik(k, n, q, eps)
    per_unit = np.full(unit_mask.size, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_unit[unit_mask] = np.where(k > 0, gain / (k * np.log(2)), np.nan)
    pooled = float(gain.sum() / (k.sum() * np.log(2))) if k.sum() else np.nan
    return pooled, per_unit


def _gains(rs: Resampler, ll_sum: np.ndarray, ll_rep: np.ndarray, y: np.ndarray, null: str, rates, eps):
    """Per-unit gains over the null, point (R,) and replicates (B, R), and the spike counts likewise.

    The null rates stay at their values on the whole test part in every replicate (see the module docstring).
    """
    k, n = y.sum(axis=0).astype(float), float(y.shape[0])
    k_rep, n_rep = rs.total(y), rs.total(np.ones(y.shape[0]))[:, None]  # (B, R), (B, 1)
    q = k / n if null == "nlb" else rates
    gain = ll_sum - constant_loglik(k, n, q, eps)
    gain_rep = ll_rep - constant_loglik(k_rep, n_rep, q[None, :], eps)
    return gain, gain_rep, k, k_rep


def bits_metrics(
    rs: Resampler,
    variants: dict[str, np.ndarray],
    y: np.ndarray,
    train_rates: np.ndarray,
    eps: float = 1e-6,
) -> tuple[list[MetricValue], dict[str, np.ndarray]]:
    """Bits-per-spike metrics of several probability sets, with block-bootstrap intervals.

    Parameters
    ----------
    rs : Resampler
    variants : dict of str to ndarray (T, R)
        ``"headline"`` (required): the probabilities scored against both nulls
        (``bits_per_spike_nlb_*`` and ``bits_per_spike_train_*``, pooled, unit mean and median);
        any other key ``v`` (e.g. ``"cal_pooled"``, ``"cal_unit"``): scored against the NLB null,
        pooled only (``bits_per_spike_nlb_{v}``).
    y : ndarray, shape (T, R), bool
        Targets of the real units.
    train_rates : ndarray, shape (R,)

    Returns
    -------
    (metrics, per_unit)
        ``per_unit`` has ``"bits_per_spike"`` (headline, NLB null) and ``"bits_per_spike_train"``, (R,).
    """
    out, per_unit = [], {}
    ln2 = np.log(2)
    for variant, probs in variants.items():
        ll_sum, ll_rep = loglik_sums(rs, probs, y, eps)  # (R,), (B, R) nats
        for null in NULLS if variant == "headline" else ("nlb",):
            gain, gain_rep, k, k_rep = _gains(rs, ll_sum, ll_rep, y, null, train_rates, eps)
            name = f"bits_per_spike_{null}" if variant == "headline" else f"bits_per_spike_nlb_{variant}"
            with np.errstate(invalid="ignore", divide="ignore"):
                pooled = gain.sum() / (k.sum() * ln2)
                rep_pooled = gain_rep.sum(axis=1) / (k_rep.sum(axis=1) * ln2)
                units = np.where(k > 0, gain / (k * ln2), np.nan)
                rep_units = gain_rep / (k_rep * ln2)
            out.append(rs.value(f"{name}_pooled" if variant == "headline" else name, pooled, rep_pooled))
            if variant == "headline":
                out += rs.unit_values(name, units, rep_units)
                per_unit["bits_per_spike" if null == "nlb" else "bits_per_spike_train"] = units
    return out, per_unit


CALIBRATED_VARIANTS = {"one_map": False, "unit_maps": True}  # variant name -> one calibration map per unit


def probability_sets(
    probs, val_probs, val_targets, unit_mask, method, seed, probabilistic, variants, real=None
) -> tuple:
    """The probabilities scored by bits per spike, real units only (T, R): the headline and calibrated variants.

    ``probs`` (T, N) are the test outputs; calibrations (``method``) are fitted on ``val_probs`` /
    ``val_targets`` (T_val, N) only. The headline is ``probs`` when ``probabilistic``, else the scores
    calibrated with one map for all units. Returns ``({"headline": ..., "cal_one_map": ..., ...},
    source)``, where ``source`` says how the headline probabilities were obtained. ``real`` is
    ``probs[:, unit_mask]`` when the caller has it already (the headline of probabilities is that array).
    """
    calibrated = {}
    wanted = set(variants) | (set() if probabilistic else {"one_map"})
    for name in CALIBRATED_VARIANTS:
        if name in wanted:
            cal = make_calibrator(method, per_unit=CALIBRATED_VARIANTS[name], seed=seed)
            calibrated[name] = cal.fit(val_probs, val_targets, unit_mask).transform(probs)[:, unit_mask]
    if probabilistic:
        headline = probs[:, unit_mask] if real is None else real
        source = "model probabilities, uncalibrated"
    else:
        headline = calibrated["one_map"]
        source = f"scores calibrated on the validation part ({method}, one map for all units)"
    sets = {"headline": headline, **{f"cal_{v}": calibrated[v] for v in variants}}
    return sets, source
