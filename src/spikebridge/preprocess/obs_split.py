"""Train / validation / test split of observations by trial block, leak-free in time.

Rule, per stimulus kind (the QuantFormer paper splits per sub-session: two for training, one for
testing; we also carve a validation part, which the paper lacks):

- kinds shown in several blocks: the last ``round(n_blocks * test_fraction)`` blocks (at least one)
  are test; kinds in a single block (and sliding windows) are split in time, the last
  ``test_fraction`` of their onsets being test;
- validation: the last ``val_fraction`` of the remaining onsets of that kind (in time);
- purge: an observation whose window shares a frame with a window of a higher-priority part is
  dropped (priority test > validation > train), so no frame is seen by two parts. Windows overlap
  across neurons too (same frames), so the purge is done on the time axis, whatever the neuron.

Nothing here looks at the signal values: the split depends on onsets, blocks and kinds only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.preprocess.calcium import Observations

PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class ObsSplitConfig:
    """Fractions of the split (see the module docstring)."""

    test_fraction: float = 1 / 3
    val_fraction: float = 0.15

    def __post_init__(self) -> None:
        for name in ("test_fraction", "val_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise SpikebridgeConfigError(
                    f"ObsSplitConfig.{name} must lie in (0, 1), got {getattr(self, name)}"
                )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ObservationSplit:
    """The three disjoint parts and what the purge removed.

    Attributes
    ----------
    train, val, test : Observations
    purged : dict of str to int
        Observations dropped from each part because their window overlapped a higher-priority part.
    config : ObsSplitConfig
    """

    train: Observations
    val: Observations
    test: Observations
    purged: dict[str, int]
    config: ObsSplitConfig

    def data_hash(self) -> str:
        return "-".join(getattr(self, p).content_hash()[:8] for p in PARTS)

    def summary(self) -> dict[str, Any]:
        return {**{p: getattr(self, p).summary() for p in PARTS}, "purged": dict(self.purged),
                "config": self.config.to_dict()}  # fmt: skip


def time_cut(onsets: np.ndarray, fraction: float) -> int:
    """Onset from which the last ``fraction`` of the distinct onsets start."""
    distinct = np.unique(onsets)
    k = max(1, int(round(distinct.size * fraction)))
    return int(distinct[max(0, distinct.size - k)])


def _assign(obs: Observations, cfg: ObsSplitConfig) -> np.ndarray:
    """Part index (0 train, 1 val, 2 test) of every observation, before the purge."""
    part = np.zeros(obs.n, dtype=np.int64)
    for kind in np.unique(obs.kind):
        sel = obs.kind == kind
        blocks = np.unique(obs.block[sel])
        if blocks.size >= 2:
            n_test = max(1, int(round(blocks.size * cfg.test_fraction)))
            test = sel & np.isin(obs.block, blocks[-n_test:])
        else:
            test = sel & (obs.onset >= time_cut(obs.onset[sel], cfg.test_fraction))
        part[test] = 2
        rest = sel & ~test
        if rest.any():
            part[rest & (obs.onset >= time_cut(obs.onset[rest], cfg.val_fraction))] = 1
    return part


def _overlaps(starts: np.ndarray, others: np.ndarray, length: int) -> np.ndarray:
    """For each start, whether a window of ``length`` frames at any of ``others`` shares a frame with it."""
    if others.size == 0:
        return np.zeros(starts.size, dtype=bool)
    others = np.unique(others)
    pos = np.searchsorted(others, starts)
    left = np.abs(starts - others[np.clip(pos - 1, 0, others.size - 1)])
    right = np.abs(others[np.clip(pos, 0, others.size - 1)] - starts)
    return np.minimum(left, right) < length


def split_observations(obs: Observations, cfg: ObsSplitConfig | None = None) -> ObservationSplit:
    """Split ``obs`` into train / validation / test parts (see the module docstring).

    Raises
    ------
    SpikebridgeDataError
        When a part ends up empty.
    """
    cfg = cfg or ObsSplitConfig()
    part = _assign(obs, cfg)
    length = obs.baseline_len + obs.response_len
    start = obs.start
    purged = {}
    for p, higher in ((1, (2,)), (0, (1, 2))):
        clash = (part == p) & _overlaps(start, start[np.isin(part, higher)], length)
        purged[PARTS[p]] = int(clash.sum())
        part[clash] = -1
    purged["test"] = 0
    parts = {name: obs.select(part == i) for i, name in enumerate(PARTS)}
    empty = [name for name, o in parts.items() if o.n == 0]
    if empty:
        raise SpikebridgeDataError(f"{obs.source}: the {', '.join(empty)} part(s) are empty after the split; "
                                   "the recording is too short for these windows")  # fmt: skip
    return ObservationSplit(**parts, purged=purged, config=cfg)
