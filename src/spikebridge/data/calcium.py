"""Stimulus tables of imaging sessions, and a calcium session = traces + stimuli (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from spikebridge.data.types import Traces
from spikebridge.errors import SpikebridgeDataError


@dataclass(frozen=True)
class StimulusTable:
    """Presentations of visual stimuli, in imaging frames.

    Attributes
    ----------
    onset : ndarray of int64, shape (n,)
        Frame index of each presentation's onset (the first frame with the stimulus on screen).
    offset : ndarray of int64, shape (n,)
        Frame index where the presentation ends (exclusive); ``offset >= onset``.
    label : ndarray of str, shape (n,)
        The stimulus condition, e.g. ``"drifting_gratings:orientation=90,temporal_frequency=2"``;
        one [STIM] token per distinct label.
    kind : ndarray of str, shape (n,)
        The stimulus type, e.g. ``"drifting_gratings"``.
    block : ndarray of int64, shape (n,)
        Index of the sub-session (block of consecutive presentations of one kind), counted per kind
        in time order: 0, 1, 2, ...
    source : str
        File the table was read from (for error messages).
    """

    onset: np.ndarray
    offset: np.ndarray
    label: np.ndarray
    kind: np.ndarray
    block: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        onset = np.asarray(self.onset, dtype=np.int64).ravel()
        offset = np.asarray(self.offset, dtype=np.int64).ravel()
        label = np.asarray(self.label).astype(str).ravel()
        kind = np.asarray(self.kind).astype(str).ravel()
        block = np.asarray(self.block, dtype=np.int64).ravel()
        n = onset.size
        if not (offset.size == label.size == kind.size == block.size == n):
            raise SpikebridgeDataError(f"{self.source}: stimulus table columns differ in length")
        if np.any(onset < 0) or np.any(offset < onset):
            raise SpikebridgeDataError(f"{self.source}: stimulus onsets must be >= 0 and precede offsets")
        for name, value in (("onset", onset), ("offset", offset), ("label", label), ("kind", kind),
                            ("block", block)):  # fmt: skip
            object.__setattr__(self, name, value)

    @property
    def n(self) -> int:
        return int(self.onset.size)

    def labels(self) -> tuple[str, ...]:
        """Distinct labels in first-seen order (the [STIM] vocabulary)."""
        return tuple(dict.fromkeys(self.label.tolist()))

    def select(self, index: np.ndarray) -> StimulusTable:
        """Rows at ``index`` (a boolean mask or integer positions)."""
        return replace(
            self,
            onset=self.onset[index],
            offset=self.offset[index],
            label=self.label[index],
            kind=self.kind[index],
            block=self.block[index],
        )

    def to_dict(self) -> dict[str, Any]:
        kinds, counts = np.unique(self.kind, return_counts=True)
        return {
            "presentations": self.n,
            "labels": len(self.labels()),
            "kinds": {str(k): int(c) for k, c in zip(kinds, counts, strict=True)},
            "blocks": {str(k): int(self.block[self.kind == k].max()) + 1 for k in kinds},
        }


def blocks_from_gaps(onset: np.ndarray, kind: np.ndarray, min_gap: float) -> np.ndarray:
    """Sub-session index of every presentation: a new block starts after a gap of ``min_gap`` frames.

    Parameters
    ----------
    onset : ndarray of int, shape (n,)
        Onset frames.
    kind : ndarray of str, shape (n,)
        Stimulus type of each presentation; blocks are counted per kind, in time order.
    min_gap : float
        Onset-to-onset gap (frames) that separates two blocks of the same kind.

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    onset = np.asarray(onset, dtype=np.int64)
    kind = np.asarray(kind).astype(str)
    block = np.zeros(onset.size, dtype=np.int64)
    for k in np.unique(kind):
        idx = np.flatnonzero(kind == k)
        idx = idx[np.argsort(onset[idx], kind="stable")]
        jumps = np.diff(onset[idx]) > min_gap
        block[idx] = np.concatenate([[0], np.cumsum(jumps)])
    return block


@dataclass(frozen=True)
class CalciumRecording:
    """Traces of one imaging session with its stimulus table (None for spontaneous activity)."""

    traces: Traces
    stimuli: StimulusTable | None = None

    def __post_init__(self) -> None:
        if self.stimuli is not None and self.stimuli.n and self.stimuli.onset.max() >= self.traces.n_frames:
            raise SpikebridgeDataError(
                f"{self.traces.info.source or self.traces.info.name}: a stimulus onset "
                f"(frame {int(self.stimuli.onset.max())}) lies after the last frame ({self.traces.n_frames})"
            )

    @property
    def info(self):
        return self.traces.info
