"""Simulated two-photon calcium imaging with stimulus-tuned and untuned neurons (numpy and scipy only).

Generative model, per neuron ``n`` and imaging frame ``t`` (frame rate ``r``, ``dt = 1 / r``)::

    rate[t, n]   = base[n] + sum over presentations p of kind/condition s(p) with responsive[n, s]:
                   gain[p, n] * amp[n, s] * (0.4 + 0.6 exp(-(t - onset_p - latency) / 0.5 s))
                   while the stimulus is on (gain = 0 on a failed trial, probability 1 - p_response)
    spikes[t, n] ~ Poisson(rate[t, n] * dt)
    c[:, n]      = spikes convolved with the indicator kernel  a (exp(-t / tau_decay) - exp(-t / tau_rise))
    F[t, n]      = F0[n] (1 + c[t, n]) + neuropil_coef * neuropil[t, n]
    observed F   = F + sqrt(gain_photon * F) * N(0, 1)              (shot noise)

``neuropil[t, n]`` is a slow shared fluctuation plus the smoothed population activity (out-of-focus
light). The simulation knows which neuron responds to which stimulus (``responsive``), so a
classifier can be checked against the truth; its stimulus schedule mimics the Allen sessions:
several stimulus kinds, each shown in ``n_blocks`` sub-sessions separated by the other kinds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from spikebridge.data.calcium import CalciumRecording, StimulusTable
from spikebridge.data.types import RecordingInfo, Traces
from spikebridge.errors import SpikebridgeConfigError

DEFAULT_KINDS = (("gratings", 8), ("scenes", 8), ("flashes", 4))


@dataclass(frozen=True)
class CalciumSimConfig:
    """Parameters of :func:`simulate_calcium` (times in seconds, rates in Hz, F in photon units).

    Attributes
    ----------
    n_neurons : int
    kinds : tuple of (str, int)
        Stimulus kinds and their number of conditions; every condition is one [STIM] label.
    n_blocks, repeats : int
        Sub-sessions per kind, and presentations of every condition per sub-session.
    frame_rate, stim_s, iti_s, gap_s : float
        Imaging rate; stimulus duration; grey interval after each stimulus; pause between sub-sessions.
    frac_tuned : float
        Fraction of neurons that respond to some stimuli (the others are untuned).
    base_rate, response_rate : float, (float, float)
        Spontaneous rate, and the range of evoked rates of a responsive neuron-stimulus pair.
    p_response : float
        Probability that a responsive neuron responds on a given presentation.
    tau_rise, tau_decay, spike_amp : float
        Indicator kernel (GCaMP6-like) and the dF/F of one spike at the kernel's peak.
    f0_range, neuropil_coef, photon_gain : (float, float), float, float
        Baseline fluorescence range, neuropil contamination, and shot-noise variance per unit of F.
    seed : int
    """

    n_neurons: int = 40
    kinds: tuple[tuple[str, int], ...] = DEFAULT_KINDS
    n_blocks: int = 3
    repeats: int = 6
    frame_rate: float = 30.0
    stim_s: float = 2.0
    iti_s: float = 1.0
    gap_s: float = 20.0
    frac_tuned: float = 0.8
    base_rate: float = 0.05
    response_rate: tuple[float, float] = (4.0, 10.0)
    p_response: float = 0.9
    tau_rise: float = 0.05
    tau_decay: float = 0.7
    spike_amp: float = 0.25
    f0_range: tuple[float, float] = (60.0, 160.0)
    neuropil_coef: float = 0.7
    photon_gain: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        positive = ("n_neurons", "n_blocks", "repeats", "frame_rate", "stim_s", "tau_rise", "tau_decay")
        for name in positive:
            if not getattr(self, name) > 0:
                raise SpikebridgeConfigError(
                    f"CalciumSimConfig.{name} must be positive, got {getattr(self, name)}"
                )
        if not self.kinds or any(int(n) < 1 for _, n in self.kinds):
            raise SpikebridgeConfigError(
                f"CalciumSimConfig.kinds needs at least one condition per kind: {self.kinds}"
            )
        for name in ("frac_tuned", "p_response"):
            if not 0 <= getattr(self, name) <= 1:
                raise SpikebridgeConfigError(
                    f"CalciumSimConfig.{name} must lie in [0, 1], got {getattr(self, name)}"
                )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CalciumSimulation:
    """Output of :func:`simulate_calcium`.

    Attributes
    ----------
    recording : CalciumRecording
        Observed F (frames x neurons, kind "F") and the stimulus table.
    spikes : ndarray of int, shape (n_frames, n_neurons)
        Spike counts per frame.
    responsive : ndarray of bool, shape (n_neurons, n_labels)
        ``responsive[n, s]``: neuron n responds to stimulus label ``labels[s]``.
    labels : tuple of str
    config : CalciumSimConfig
    """

    recording: CalciumRecording
    spikes: np.ndarray
    responsive: np.ndarray
    labels: tuple[str, ...]
    config: CalciumSimConfig = field(default_factory=CalciumSimConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"n_frames": int(self.spikes.shape[0]), "n_neurons": int(self.spikes.shape[1]),
                "labels": list(self.labels), "responsive_pairs": int(self.responsive.sum()),
                "tuned_neurons": int(self.responsive.any(axis=1).sum()), "config": self.config.to_dict()}  # fmt: skip


def _schedule(cfg: CalciumSimConfig, rng: np.random.Generator) -> tuple[list, int, tuple[str, ...]]:
    """Presentations (onset frame, offset frame, label index, kind, block) and the session length."""
    labels_of = []
    for kind, n_cond in cfg.kinds:
        labels_of.append([f"{kind}:condition={c}" for c in range(int(n_cond))])
    r = cfg.frame_rate
    t = int(round(cfg.gap_s * r))
    rows, index = [], {lab: i for i, lab in enumerate(label for group in labels_of for label in group)}
    for block in range(cfg.n_blocks):
        for (kind, _), labels in zip(cfg.kinds, labels_of, strict=True):
            order = rng.permutation(np.repeat(np.arange(len(labels)), cfg.repeats))
            for c in order:
                on, off = t, t + int(round(cfg.stim_s * r))
                rows.append((on, off, index[labels[c]], kind, block))
                t = off + int(round(cfg.iti_s * r))
            t += int(round(cfg.gap_s * r))
    return rows, t, tuple(index)


def _tuning(cfg: CalciumSimConfig, rng: np.random.Generator, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Responsive pairs (N, S) and evoked rates (N, S): a tuned neuron prefers one condition in each of
    1-2 kinds (two conditions of a kind with probability 0.25)."""
    starts = np.cumsum([0] + [int(n) for _, n in cfg.kinds])
    responsive = np.zeros((cfg.n_neurons, n_labels), dtype=bool)
    for n in np.flatnonzero(rng.random(cfg.n_neurons) < cfg.frac_tuned):
        for k in rng.choice(len(cfg.kinds), size=min(len(cfg.kinds), rng.integers(1, 3)), replace=False):
            conds = np.arange(starts[k], starts[k + 1])
            size = min(conds.size, 2 if rng.random() < 0.25 else 1)
            responsive[n, rng.choice(conds, size=size, replace=False)] = True
    amp = rng.uniform(*cfg.response_rate, size=(cfg.n_neurons, n_labels)) * responsive
    return responsive, amp


def _rates(cfg: CalciumSimConfig, rng, rows: list, n_frames: int, amp: np.ndarray) -> np.ndarray:
    """Firing rate (Hz), shape (n_frames, N)."""
    rate = np.full((n_frames, cfg.n_neurons), cfg.base_rate)
    latency = int(round(0.1 * cfg.frame_rate))
    for on, off, s, _, _ in rows:
        t = np.arange(on + latency, min(off + latency, n_frames))
        profile = 0.4 + 0.6 * np.exp(-(t - on - latency) / (0.5 * cfg.frame_rate))  # (L,)
        hit = rng.random(cfg.n_neurons) < cfg.p_response
        gain = hit * rng.lognormal(0.0, 0.3, cfg.n_neurons)  # (N,)
        rate[t] += profile[:, None] * (gain * amp[:, s])[None, :]
    return rate


def _calcium(cfg: CalciumSimConfig, spikes: np.ndarray) -> np.ndarray:
    """dF/F of the indicator, spikes convolved with a normalised double exponential, shape (T, N)."""
    t = np.arange(int(np.ceil(8 * cfg.tau_decay * cfg.frame_rate))) / cfg.frame_rate
    kernel = np.exp(-t / cfg.tau_decay) - np.exp(-t / cfg.tau_rise)
    kernel *= cfg.spike_amp / kernel.max()
    n = spikes.shape[0] + kernel.size
    spectrum = np.fft.rfft(spikes.astype(float), n=n, axis=0) * np.fft.rfft(kernel, n=n)[:, None]
    return np.fft.irfft(spectrum, n=n, axis=0)[: spikes.shape[0]]  # causal linear convolution


def _neuropil(cfg: CalciumSimConfig, rng, calcium: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """Out-of-focus light (photon units), shape (T, N): a slow shared drift plus the population's mean signal."""
    from scipy.ndimage import gaussian_filter1d

    n_frames = calcium.shape[0]
    drift = gaussian_filter1d(rng.normal(size=n_frames), sigma=5 * cfg.frame_rate)
    drift *= 0.05 / max(float(drift.std()), 1e-12)
    shared = 0.3 * calcium.mean(axis=1)  # (T,)
    local = gaussian_filter1d(rng.normal(size=calcium.shape), sigma=cfg.frame_rate, axis=0) * 0.5
    return 0.5 * f0[None, :] * (drift + shared)[:, None] + local


def simulate_calcium(config: CalciumSimConfig | None = None, **overrides: Any) -> CalciumSimulation:
    """Simulate one imaging session with a stimulus table and a known responsiveness matrix.

    Parameters
    ----------
    config : CalciumSimConfig, optional
    **overrides
        Fields of :class:`CalciumSimConfig` to change (e.g. ``n_neurons=10, seed=3``).

    Returns
    -------
    CalciumSimulation
        Equal configs give equal outputs (``numpy.random.default_rng(seed)``).
    """
    cfg = CalciumSimConfig(**{**(config or CalciumSimConfig()).to_dict(), **overrides})
    rng = np.random.default_rng(cfg.seed)
    rows, n_frames, labels = _schedule(cfg, rng)
    responsive, amp = _tuning(cfg, rng, len(labels))
    spikes = rng.poisson(_rates(cfg, rng, rows, n_frames, amp) / cfg.frame_rate)  # (T, N)
    calcium = _calcium(cfg, spikes)
    f0 = rng.uniform(*cfg.f0_range, size=cfg.n_neurons)
    clean = f0[None, :] * (1.0 + calcium) + cfg.neuropil_coef * _neuropil(cfg, rng, calcium, f0)
    observed = clean + np.sqrt(cfg.photon_gain * np.clip(clean, 1e-6, None)) * rng.normal(size=clean.shape)
    onset, offset, label, kind, block = (np.array(col) for col in zip(*rows, strict=True))
    table = StimulusTable(onset, offset, np.array(labels)[label], kind, block, source="simulation")
    info = RecordingInfo(name=f"calcium_sim_s{cfg.seed}", preparation="in_vivo", species="simulated",
                         source="simulation", extra={"simulation": cfg.to_dict()})  # fmt: skip
    traces = Traces(values=observed, frame_rate=cfg.frame_rate, info=info, kind="F")
    return CalciumSimulation(CalciumRecording(traces, table), spikes, responsive, labels, cfg)
