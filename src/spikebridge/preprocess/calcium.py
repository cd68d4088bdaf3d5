"""Observations for QuantFormer: a baseline window before an onset and a response window after it.

An observation ``o = (x_b, x_f, n, s, a)`` (the QuantFormer paper's notation) holds, for neuron ``n``
and stimulus ``s``, the ``L_b`` frames before the onset (``x_b``), the ``L_f`` frames from the
onset on (``x_f``; the onset frame is the first frame of the response) and the label ``a``.

Signals are *baseline-referenced*, using only frames before the onset:

- raw fluorescence (``Traces.kind`` not "dF/F"): ``x = F / F0 - 1`` with ``F0 = mean(F[onset - L_b:onset])``
  (dF/F with the baseline taken before onset); observations with ``F0 <= min_f0`` are dropped;
- dF/F traces (e.g. the Allen pipeline's): ``x = dff - mean(dff[onset - L_b:onset])``;
- binned spike counts: the counts themselves (no referencing; unit "spikes/bin").

The "active" label follows the paper's rule (after Chen et al. 2013): the response window has an
average gain of at least 10% over the average baseline, i.e. ``mean(x_f) - mean(x_b) >= 0.10`` for
referenced calcium signals (``mean(x_b)`` is 0 by construction for F), and
``mean(x_f) >= 1.1 mean(x_b)`` with ``mean(x_f) > 0`` for counts.

Recordings without stimuli give sliding windows (``stride`` frames apart) with the virtual onset
after the first ``L_b`` frames and the single stimulus label ``"none"``.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from spikebridge.data.calcium import StimulusTable
from spikebridge.data.types import Traces
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

NO_STIMULUS = "none"
UNITS = ("dF/F", "spikes/bin")


@dataclass(frozen=True)
class ObservationConfig:
    """Window lengths (frames or bins) and the activity rule.

    Attributes
    ----------
    baseline_len, response_len : int
        ``L_b`` and ``L_f``: 96 and 64 frames (3 s and 2 s at 30 Hz, the paper's values).
    stride : int
        Step between sliding windows (recordings without stimuli).
    active_gain : float
        Relative gain of the response over the baseline that marks an observation active (0.10).
    min_f0 : float
        Smallest baseline fluorescence accepted for ``F / F0 - 1`` (raw-F traces only).
    """

    baseline_len: int = 96
    response_len: int = 64
    stride: int = 16
    active_gain: float = 0.10
    min_f0: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("baseline_len", "response_len", "stride"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SpikebridgeConfigError(
                    f"ObservationConfig.{name} must be a positive integer, got {value!r}"
                )
        if not self.active_gain > 0 or not self.min_f0 > 0:
            raise SpikebridgeConfigError(
                f"ObservationConfig needs active_gain > 0 and min_f0 > 0, got {self.active_gain}, {self.min_f0}"
            )

    @property
    def length(self) -> int:
        return self.baseline_len + self.response_len

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Observations:
    """A set of observations (all arrays share their first axis, n).

    Attributes
    ----------
    baseline : ndarray of float32, shape (n, L_b)
    response : ndarray of float32, shape (n, L_f)
    neuron : ndarray of int64, shape (n,)
        Index into ``neuron_ids`` (the [NEURON] token).
    stimulus : ndarray of int64, shape (n,)
        Index into ``stimulus_labels`` (the [STIM] token).
    active : ndarray of bool, shape (n,)
    onset : ndarray of int64, shape (n,)
        Frame of the onset in the recording; the window covers ``[onset - L_b, onset + L_f)``.
    block : ndarray of int64, shape (n,)
        Sub-session of the presentation (0 for sliding windows).
    kind : ndarray of str, shape (n,)
        Stimulus type ("spontaneous" for sliding windows).
    neuron_ids : ndarray, shape (n_neurons,)
    stimulus_labels : tuple of str
    frame_rate : float
        Frames (bins) per second.
    unit : {"dF/F", "spikes/bin"}
    source : str
    """

    baseline: np.ndarray
    response: np.ndarray
    neuron: np.ndarray
    stimulus: np.ndarray
    active: np.ndarray
    onset: np.ndarray
    block: np.ndarray
    kind: np.ndarray
    neuron_ids: np.ndarray
    stimulus_labels: tuple[str, ...]
    frame_rate: float
    unit: str = "dF/F"
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.baseline)
        cols = (self.response, self.neuron, self.stimulus, self.active, self.onset, self.block, self.kind)
        if any(len(c) != n for c in cols):
            raise SpikebridgeDataError(f"{self.source}: observation columns differ in length")
        if self.unit not in UNITS:
            raise SpikebridgeConfigError(f"Observations.unit must be one of {UNITS}, got {self.unit!r}")

    @property
    def n(self) -> int:
        return len(self.baseline)

    @property
    def baseline_len(self) -> int:
        return self.baseline.shape[1]

    @property
    def response_len(self) -> int:
        return self.response.shape[1]

    @property
    def n_neurons(self) -> int:
        return len(self.neuron_ids)

    @property
    def n_stimuli(self) -> int:
        return len(self.stimulus_labels)

    @property
    def start(self) -> np.ndarray:
        """First frame of each window, shape (n,)."""
        return self.onset - self.baseline_len

    def full(self) -> np.ndarray:
        """Baseline then response, shape (n, L_b + L_f)."""
        return np.concatenate([self.baseline, self.response], axis=1)

    def select(self, index: np.ndarray) -> Observations:
        """Observations at ``index`` (boolean mask or positions); the vocabularies are kept."""
        return replace(self, baseline=self.baseline[index], response=self.response[index],
                       neuron=self.neuron[index], stimulus=self.stimulus[index], active=self.active[index],
                       onset=self.onset[index], block=self.block[index], kind=self.kind[index])  # fmt: skip

    def content_hash(self) -> str:
        """Short hash of the values, labels and positions (provenance)."""
        h = hashlib.sha256()
        for arr in (self.baseline, self.response, self.neuron, self.stimulus, self.active, self.onset):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("|".join(self.stimulus_labels).encode())
        return h.hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        return {"n": self.n, "neurons": int(np.unique(self.neuron).size) if self.n else 0,
                "stimuli": int(np.unique(self.stimulus).size) if self.n else 0,
                "active_fraction": float(self.active.mean()) if self.n else float("nan")}  # fmt: skip


def active_labels(baseline: np.ndarray, response: np.ndarray, gain: float, unit: str) -> np.ndarray:
    """The paper's activity rule, shape (n,) bool (see the module docstring).

    Parameters
    ----------
    baseline : ndarray, shape (n, L_b)
    response : ndarray, shape (n, L_f)
    gain : float
        0.10 in the paper.
    unit : {"dF/F", "spikes/bin"}
    """
    mb, mf = baseline.mean(axis=1), response.mean(axis=1)
    if unit == "spikes/bin":
        return (mf >= (1.0 + gain) * mb) & (mf > 0)
    return mf - mb >= gain


def _windows(values: np.ndarray, onsets: np.ndarray, cfg: ObservationConfig) -> np.ndarray:
    """Windows ``values[onset - L_b : onset + L_f]`` of every column, shape (n_onsets, N, L)."""
    view = np.lib.stride_tricks.sliding_window_view(values, cfg.length, axis=0)  # (T - L + 1, N, L)
    return np.asarray(view[onsets - cfg.baseline_len], dtype=np.float32)


def _reference(win: np.ndarray, kind: str, cfg: ObservationConfig) -> tuple[np.ndarray, np.ndarray]:
    """Baseline-referenced windows (same shape) and a keep mask (n_onsets, N)."""
    base = win[..., : cfg.baseline_len].mean(axis=-1, keepdims=True)  # (n_onsets, N, 1)
    if kind == "dF/F":
        return win - base, np.ones(win.shape[:2], dtype=bool)
    keep = base[..., 0] > cfg.min_f0
    return win / np.where(base > cfg.min_f0, base, 1.0) - 1.0, keep


def _assemble(
    win, keep, onsets, stim_index, blocks, kinds, ids, labels, rate, unit, cfg, source
) -> Observations:
    """Flatten (n_onsets, N, L) windows into one observation per kept (onset, neuron)."""
    n_on, n_neu, _ = win.shape
    rows, cols = np.nonzero(keep)  # (onset index, neuron index) pairs, onset-major
    flat = win[rows, cols].astype(np.float32)  # (n, L)
    base, resp = flat[:, : cfg.baseline_len], flat[:, cfg.baseline_len :]
    return Observations(
        baseline=base, response=resp, neuron=cols.astype(np.int64), stimulus=stim_index[rows].astype(np.int64),
        active=active_labels(base, resp, cfg.active_gain, unit), onset=onsets[rows].astype(np.int64),
        block=blocks[rows].astype(np.int64), kind=kinds[rows], neuron_ids=np.asarray(ids),
        stimulus_labels=tuple(labels), frame_rate=float(rate), unit=unit, source=source,
    )  # fmt: skip


def _valid_onsets(onsets: np.ndarray, n_frames: int, cfg: ObservationConfig) -> np.ndarray:
    return (onsets >= cfg.baseline_len) & (onsets + cfg.response_len <= n_frames)


def stimulus_observations(
    traces: Traces, stimuli: StimulusTable, cfg: ObservationConfig | None = None
) -> Observations:
    """One observation per (presentation, neuron) whose whole window lies inside the recording.

    Parameters
    ----------
    traces : Traces
        Values (n_frames, n_rois); "dF/F" traces are referenced by subtraction, others by division.
    stimuli : StimulusTable
        Onsets in frames; each distinct label is one [STIM] token.
    cfg : ObservationConfig

    Returns
    -------
    Observations
        In presentation-major order; ``unit`` "dF/F".
    """
    cfg = cfg or ObservationConfig()
    src = traces.info.source or traces.info.name
    ok = _valid_onsets(stimuli.onset, traces.n_frames, cfg)
    if not ok.any():
        raise SpikebridgeDataError(f"{src}: no stimulus onset has {cfg.baseline_len} frames before and "
                                   f"{cfg.response_len} after it inside the recording")  # fmt: skip
    table = stimuli.select(ok)
    labels = table.labels()
    index = {lab: i for i, lab in enumerate(labels)}
    stim = np.array([index[lab] for lab in table.label], dtype=np.int64)
    win, keep = _reference(_windows(traces.values, table.onset, cfg), traces.kind, cfg)
    return _assemble(win, keep, table.onset, stim, table.block, table.kind, traces.roi_ids, labels,
                     traces.frame_rate, "dF/F", cfg, src)  # fmt: skip


def sliding_onsets(n_frames: int, cfg: ObservationConfig) -> np.ndarray:
    """Virtual onsets ``L_b, L_b + stride, ...`` of windows inside ``n_frames``, shape (n,)."""
    last = n_frames - cfg.response_len
    return np.arange(cfg.baseline_len, last + 1, cfg.stride, dtype=np.int64)


def _sliding(values, kind, ids, rate, unit, cfg, src) -> Observations:
    onsets = sliding_onsets(values.shape[0], cfg)
    if onsets.size == 0:
        raise SpikebridgeDataError(
            f"{src}: {values.shape[0]} frames are fewer than one window ({cfg.length})"
        )
    win = _windows(values, onsets, cfg)
    if unit == "spikes/bin":
        keep = np.ones(win.shape[:2], dtype=bool)
    else:
        win, keep = _reference(win, kind, cfg)
    zeros = np.zeros(onsets.size, dtype=np.int64)
    return _assemble(win, keep, onsets, zeros, zeros, np.full(onsets.size, "spontaneous"), ids,
                     (NO_STIMULUS,), rate, unit, cfg, src)  # fmt: skip


def sliding_observations(traces: Traces, cfg: ObservationConfig | None = None) -> Observations:
    """Sliding windows over a recording without stimuli (label "none", block 0, unit "dF/F")."""
    cfg = cfg or ObservationConfig()
    return _sliding(traces.values, traces.kind, traces.roi_ids, traces.frame_rate, "dF/F", cfg,
                    traces.info.source or traces.info.name)  # fmt: skip


def count_observations(
    counts: np.ndarray,
    bin_size: float,
    unit_ids: np.ndarray,
    cfg: ObservationConfig | None = None,
    source: str = "",
) -> Observations:
    """Sliding windows over binned spike counts (one observation per window and unit).

    Parameters
    ----------
    counts : ndarray, shape (n_bins, n_units)
        Spikes per bin.
    bin_size : float
        Bin width in seconds (``frame_rate = 1 / bin_size``).
    unit_ids : ndarray, shape (n_units,)
    cfg : ObservationConfig
    source : str
    """
    cfg = cfg or ObservationConfig()
    counts = np.asarray(counts)
    if counts.ndim != 2 or np.any(counts < 0):
        raise SpikebridgeDataError(
            f"{source}: counts must be a non-negative (bins, units) array, got {counts.shape}"
        )
    return _sliding(counts, "counts", unit_ids, 1.0 / bin_size, "spikes/bin", cfg, source)


def bin_counts(times: tuple[np.ndarray, ...], t_start: float, t_stop: float, bin_size: float) -> np.ndarray:
    """Spike counts per bin, shape (n_bins, n_units), int32; ``n_bins = floor((t_stop - t_start) / bin_size)``."""
    n_bins = int(np.floor((t_stop - t_start) / bin_size + 1e-9))
    out = np.zeros((n_bins, len(times)), dtype=np.int32)
    for i, t in enumerate(times):
        idx = np.floor((np.asarray(t) - t_start) / bin_size).astype(np.int64)
        idx = idx[(idx >= 0) & (idx < n_bins)]
        np.add.at(out[:, i], idx, 1)
    return out
