"""Simulated coupled binary spike trains with known connectivity and a planted rule (numpy only).

Model: a Bernoulli process per unit and bin whose log-odds is a logistic function of the population's
previous ``n_lags`` bins (a coupled history GLM)::

    logit P(s[t, i] = 1) = b_i + sum_l sum_j W[l, i, j] * s[t-1-l, j] + g * z[t]      (i != C)

where ``z[t]`` is a hidden network-burst state (in vitro-like regime only; 0 otherwise). The planted rule
drives unit C (index 2) from units A and B (indices 0 and 1)::

    P(s[t, C] = 1) = p_rule     if s[t-1, A] = s[t-1, B] = 1     (1 bin after A and B spike together)
                   = p_quiet    otherwise                        (nearly silent)

Units A and B fire often (``rate_ab`` per bin) so that the joint event occurs hundreds of times a minute.

:func:`simulate_network` plants ground truth for the analyses of what a model learned: a sparse
network of excitatory and inhibitory connections that all act exactly ``lag`` bins after the spike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikebridge.errors import SpikebridgeConfigError

REGIMES = ("in_vivo", "in_vitro")


@dataclass(frozen=True)
class PlantedRule:
    """``target`` spikes with probability ``p_rule`` ``lag`` bins after all ``sources`` spike in one bin."""

    sources: tuple[int, ...] = (0, 1)
    target: int = 2
    lag: int = 1
    p_rule: float = 0.9
    p_quiet: float = 2e-4

    def to_dict(self) -> dict[str, Any]:
        return {"sources": list(self.sources), "target": self.target, "lag": self.lag,
                "p_rule": self.p_rule, "p_quiet": self.p_quiet}  # fmt: skip


@dataclass(frozen=True)
class Simulation:
    """Output of :func:`simulate`.

    Attributes
    ----------
    spikes : ndarray ``(T, N)`` bool
        Sampled raster, one row per bin.
    prob : ndarray ``(T, N)`` float64
        True spike probability of every bin given the past spikes (and, in vitro, the hidden burst state).
    coupling : ndarray ``(L, N, N)`` float64
        ``coupling[l, i, j]``: log-odds added to unit ``i`` when unit ``j`` spiked ``l + 1`` bins before.
        The row of the rule target is zero (it is driven by the rule only).
    bias : ndarray ``(N,)`` float64
        Baseline log-odds per unit.
    burst : ndarray ``(T,)`` bool
        Hidden network-burst state (all False in the in vivo-like regime).
    rule : PlantedRule
    regime : str
    seed : int
    """

    spikes: np.ndarray
    prob: np.ndarray
    coupling: np.ndarray
    bias: np.ndarray
    burst: np.ndarray
    rule: PlantedRule
    regime: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Summary (no arrays): shapes, rates, the rule and the parameters."""
        return {"n_bins": int(self.spikes.shape[0]), "n_units": int(self.spikes.shape[1]),
                "regime": self.regime, "seed": self.seed, "rule": self.rule.to_dict(),
                "mean_rate_per_bin": float(self.spikes.mean()), "params": dict(self.params)}  # fmt: skip


def _regime_params(regime: str) -> dict[str, float]:
    """Rates and coupling scales of a regime (rates are spike probabilities per bin)."""
    if regime == "in_vivo":
        return dict(rate_lo=0.005, rate_hi=0.03, burst_gain=0.0, p_burst_on=0.0, p_burst_off=1.0)
    return dict(rate_lo=0.002, rate_hi=0.015, burst_gain=3.0, p_burst_on=0.002, p_burst_off=0.02)


def _connectivity(
    rng: np.random.Generator, n_units: int, n_lags: int, density: float, strength: float, rule: PlantedRule
) -> np.ndarray:
    """Sparse random coupling ``(L, N, N)`` with a refractory self-term; the rule target has no inputs."""
    coupling = np.zeros((n_lags, n_units, n_units))
    present = rng.random((n_units, n_units)) < density  # (N, N)
    np.fill_diagonal(present, False)
    signs = np.where(rng.random((n_units, n_units)) < 0.7, 1.0, -1.0)
    lags = rng.integers(0, n_lags, size=(n_units, n_units))
    for i, j in zip(*np.nonzero(present), strict=True):
        coupling[lags[i, j], i, j] = signs[i, j] * strength * rng.uniform(0.5, 1.0)
    coupling[0][np.diag_indices(n_units)] = -3.0  # refractoriness at lag 1
    coupling[:, rule.target, :] = 0.0
    coupling[:, list(rule.sources), :] = 0.0  # sources fire as independent Bernoulli units
    return coupling


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


def simulate(
    n_units: int,
    n_bins: int,
    regime: str = "in_vivo",
    seed: int = 0,
    n_lags: int = 3,
    density: float = 0.1,
    strength: float = 2.0,
    rate_ab: float = 0.1,
    rule: PlantedRule | None = None,
) -> Simulation:
    """Simulate ``n_bins`` bins of ``n_units`` coupled binary spike trains.

    Parameters
    ----------
    n_units : int
        Units (>= 3: A, B and C are units 0, 1, 2).
    n_bins : int
        Bins (1 ms each by convention).
    regime : {"in_vivo", "in_vitro"}
        ``"in_vivo"``: irregular, sparse (5-30 spikes/s at 1 ms bins), no bursts. ``"in_vitro"``: sparser
        between bursts plus a hidden two-state burst process (mean burst 50 bins, about one every 500 bins)
        that adds ``+3`` log-odds to every unit except C.
    seed : int
        Seed of ``numpy.random.default_rng``; equal seeds give equal outputs.
    n_lags : int
        History length L of the coupling, in bins.
    density, strength : float
        Fraction of nonzero couplings and their maximal absolute log-odds.
    rate_ab : float
        Spike probability per bin of units A and B.
    rule : PlantedRule, optional
        Defaults to ``PlantedRule()`` (C=2 after A=0 and B=1, lag 1, p_rule 0.9, p_quiet 2e-4).

    Returns
    -------
    Simulation
    """
    if regime not in REGIMES:
        raise SpikebridgeConfigError(f"regime must be one of {REGIMES}, got {regime!r}")
    if n_units < 3 or n_bins < 1 or n_lags < 1:
        raise SpikebridgeConfigError(
            f"need n_units >= 3, n_bins >= 1, n_lags >= 1; got {n_units}, {n_bins}, {n_lags}"
        )
    rule = rule or PlantedRule()
    if rule.lag > n_lags:
        raise SpikebridgeConfigError(f"rule lag {rule.lag} exceeds n_lags {n_lags}")
    rng = np.random.default_rng(seed)
    par = _regime_params(regime)
    bias = _logit(np.exp(rng.uniform(np.log(par["rate_lo"]), np.log(par["rate_hi"]), n_units)))
    bias[list(rule.sources)] = _logit(rate_ab)
    coupling = _connectivity(rng, n_units, n_lags, density, strength, rule)
    burst = _burst_states(rng, n_bins, par["p_burst_on"], par["p_burst_off"])
    spikes, prob = _run(rng, n_bins, bias, coupling, burst * par["burst_gain"], rule)
    params = dict(par, n_lags=n_lags, density=density, strength=strength, rate_ab=rate_ab)
    return Simulation(spikes, prob, coupling, bias, burst, rule, regime, seed, params)


def _burst_states(rng: np.random.Generator, n_bins: int, p_on: float, p_off: float) -> np.ndarray:
    """Two-state Markov chain ``(T,)`` bool: enter a burst with ``p_on`` per bin, leave with ``p_off``."""
    burst = np.zeros(n_bins, dtype=bool)
    if p_on <= 0:
        return burst
    u = rng.random(n_bins)
    state = False
    for t in range(n_bins):
        state = u[t] >= p_off if state else u[t] < p_on
        burst[t] = state
    return burst


def _run(
    rng: np.random.Generator,
    n_bins: int,
    bias: np.ndarray,
    coupling: np.ndarray,
    gain: np.ndarray,
    rule: PlantedRule,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample the raster bin by bin; returns spikes ``(T, N)`` bool and probabilities ``(T, N)``."""
    n_lags, n_units, _ = coupling.shape
    weights = coupling.transpose(1, 0, 2).reshape(n_units, n_lags * n_units)  # (N, L*N)
    history = np.zeros((n_lags, n_units))  # row l: bin t-1-l
    spikes = np.zeros((n_bins, n_units), dtype=bool)
    prob = np.zeros((n_bins, n_units))
    uniform = rng.random((n_bins, n_units))
    for t in range(n_bins):
        drive = bias + weights @ history.ravel() + gain[t]
        p = 1.0 / (1.0 + np.exp(-drive))
        together = all(history[rule.lag - 1, s] > 0 for s in rule.sources)
        p[rule.target] = rule.p_rule if together else rule.p_quiet
        spikes[t] = uniform[t] < p
        prob[t] = p
        history = np.roll(history, 1, axis=0)
        history[0] = spikes[t]
    return spikes, prob


@dataclass(frozen=True)
class NetworkSimulation:
    """Output of :func:`simulate_network`: a sparse coupled network acting at one planted lag.

    Attributes
    ----------
    spikes : ndarray ``(T, N)`` bool
        Sampled raster, one row per bin.
    prob : ndarray ``(T, N)`` float64
        True spike probability of every bin given the past spikes.
    weights : ndarray ``(N, N)`` float64
        ``weights[i, j]``: log-odds added to unit ``j`` ``lag`` bins after unit ``i`` spiked (row = the
        presynaptic unit, column = the postsynaptic unit); zero diagonal.
    bias : ndarray ``(N,)`` float64
        Baseline log-odds per unit.
    lag : int
        Delay of every connection in bins.
    seed : int
    params : dict
    """

    spikes: np.ndarray
    prob: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    lag: int
    seed: int
    params: dict[str, Any] = field(default_factory=dict)

    def connections(self) -> np.ndarray:
        """Ground truth ``(N, N)`` int8 ``[pre, post]``: +1 excitatory, -1 inhibitory, 0 none."""
        return np.sign(self.weights).astype(np.int8)

    def to_dict(self) -> dict[str, Any]:
        """Summary (no arrays): shapes, rate, lag, connection counts and the parameters."""
        conn = self.connections()
        return {"n_bins": int(self.spikes.shape[0]), "n_units": int(self.spikes.shape[1]), "lag": self.lag,
                "seed": self.seed, "mean_rate_per_bin": float(self.spikes.mean()),
                "n_excitatory": int((conn > 0).sum()), "n_inhibitory": int((conn < 0).sum()),
                "params": dict(self.params)}  # fmt: skip


def _check_network(n_units, n_bins, lag, density, frac_excitatory, rate_lo, rate_hi) -> None:
    """One-line errors for the parameters of :func:`simulate_network`."""
    if n_units < 2 or n_bins < 1 or lag < 1:
        raise SpikebridgeConfigError(
            f"need n_units >= 2, n_bins >= 1, lag >= 1; got {n_units}, {n_bins}, {lag}"
        )
    for name, value in (("density", density), ("frac_excitatory", frac_excitatory)):
        if not 0.0 <= value <= 1.0:
            raise SpikebridgeConfigError(f"{name} must be in [0, 1], got {value}")
    if not 0.0 < rate_lo <= rate_hi < 1.0:
        raise SpikebridgeConfigError(f"need 0 < rate_lo <= rate_hi < 1, got {rate_lo}, {rate_hi}")


def simulate_network(
    n_units: int,
    n_bins: int,
    lag: int = 4,
    density: float = 0.1,
    strength: float = 3.0,
    frac_excitatory: float = 0.7,
    rate_lo: float = 0.005,
    rate_hi: float = 0.03,
    seed: int = 0,
) -> NetworkSimulation:
    """Simulate a sparse network whose every connection acts exactly ``lag`` bins after the spike.

    Model (a coupled Bernoulli GLM with a single delay)::

        logit P(s[t, j] = 1) = b_j + sum_i weights[i, j] * s[t - lag, i]

    Each ordered pair ``i != j`` is connected with probability ``density``; a connection is excitatory
    with probability ``frac_excitatory`` and its weight is ``+-strength * U(0.5, 1)``. Baseline rates are
    log-uniform in ``[rate_lo, rate_hi]`` spikes per bin. The planted lag and connections are the ground
    truth against which attention-lag profiles and model influence are tested.

    Parameters
    ----------
    n_units, n_bins : int
        Units (>= 2) and bins (1 ms each by convention).
    lag : int
        Connection delay in bins (>= 1).
    density, frac_excitatory : float
        Connection probability per ordered pair and excitatory fraction, both in [0, 1].
    strength : float
        Largest absolute weight (log-odds).
    rate_lo, rate_hi : float
        Range of baseline spike probabilities per bin, ``0 < rate_lo <= rate_hi < 1``.
    seed : int
        Seed of ``numpy.random.default_rng``; equal seeds give equal outputs.

    Returns
    -------
    NetworkSimulation
    """
    _check_network(n_units, n_bins, lag, density, frac_excitatory, rate_lo, rate_hi)
    rng = np.random.default_rng(seed)
    bias = _logit(np.exp(rng.uniform(np.log(rate_lo), np.log(rate_hi), n_units)))
    present = rng.random((n_units, n_units)) < density  # (N, N) [pre, post]
    np.fill_diagonal(present, False)
    signs = np.where(rng.random((n_units, n_units)) < frac_excitatory, 1.0, -1.0)
    weights = present * signs * strength * rng.uniform(0.5, 1.0, (n_units, n_units))
    spikes = np.zeros((n_bins, n_units), dtype=bool)
    prob = np.zeros((n_bins, n_units))
    uniform = rng.random((n_bins, n_units))
    for t0 in range(0, n_bins, lag):  # bins t0 .. t0+lag-1 depend only on bins before t0
        t1 = min(t0 + lag, n_bins)
        past = np.zeros((t1 - t0, n_units))
        lo = t0 - lag
        if lo >= 0:
            past = spikes[lo : lo + t1 - t0].astype(float)  # (t1-t0, N): bins t - lag
        drive = bias + past @ weights  # (t1-t0, N)
        prob[t0:t1] = 1.0 / (1.0 + np.exp(-drive))
        spikes[t0:t1] = uniform[t0:t1] < prob[t0:t1]
    params = dict(density=density, strength=strength, frac_excitatory=frac_excitatory, rate_lo=rate_lo,
                  rate_hi=rate_hi)  # fmt: skip
    return NetworkSimulation(spikes, prob, weights, bias, lag, seed, params)
