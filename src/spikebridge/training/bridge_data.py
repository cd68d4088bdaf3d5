"""Training data of the bridge model: its causal features computed once, served as windows.

The bridge model reads the raster only through fixed causal features (no learned parameter), so they
are computed once over the training and validation parts (validation continuing from the end of the
training part, as its own past) and stored compactly; every epoch then draws windows of consecutive
bins from them. A window of length ``W`` starting at bin ``s`` holds the features of input bins
``s .. s+W-1`` (plus the ``prefix`` bins before them that attention and lagged coupling read) and
the targets ``s+1 .. s+W``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from spikebridge.models.bridge import BridgeModel


class FeatureBank:
    """Features of every bin of a raster, computed by ``model.features`` in chunks with the state carried.

    Parameters
    ----------
    model : BridgeModel
        Its standardisation buffers must already be set (``fit_standardization``).
    raster : ndarray ``(T, N)`` bool
    unit_mask : ndarray ``(N,)`` bool
    chunk : int
        Bins per feature pass (bounds memory).

    Attributes
    ----------
    spikes : Tensor ``(T, N)`` uint8
    population : Tensor ``(T, Kp+1)`` float32
    unit_traces : Tensor ``(T, Ku, N)`` float16
    since : Tensor ``(T, N)`` uint8
    """

    def __init__(
        self, model: BridgeModel, raster: np.ndarray, unit_mask: np.ndarray, chunk: int = 8192
    ) -> None:
        mask = torch.as_tensor(np.asarray(unit_mask, dtype=bool))
        x = torch.from_numpy(np.asarray(raster, dtype=np.float32))[None]  # (1, T, N)
        state = model.init_state(1)
        p = model.config.prefix
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("population", "unit_traces", "since")}
        for start in range(0, x.shape[1], chunk):
            feats, state = model.features(x[:, start : start + chunk], state, mask)
            parts["population"].append(feats["population"][0, p:])
            parts["unit_traces"].append(feats["unit_traces"][0].half())
            parts["since"].append(feats["since"][0].to(torch.uint8))
        self.spikes = torch.from_numpy(np.asarray(raster, dtype=np.uint8))
        self.population = torch.cat(parts["population"])
        self.unit_traces = torch.cat(parts["unit_traces"])
        self.since = torch.cat(parts["since"])
        self.prefix = p

    @property
    def n_bins(self) -> int:
        return self.spikes.shape[0]

    def window(self, start: int, length: int) -> dict[str, torch.Tensor]:
        """Features of input bins ``start .. start+length-1`` and their targets (the next bins)."""
        p = self.prefix
        lo = start - p
        pad = max(0, -lo)
        spikes = self.spikes[max(lo, 0) : start + length].float()
        population = self.population[max(lo, 0) : start + length]
        if pad:
            spikes = torch.cat([spikes.new_zeros(pad, spikes.shape[1]), spikes])
            population = torch.cat([population.new_zeros(pad, population.shape[1]), population])
        return {
            "spikes": spikes,  # (P+W, N)
            "population": population,  # (P+W, Kp+1)
            "unit_traces": self.unit_traces[start : start + length].float(),  # (W, Ku, N)
            "since": self.since[start : start + length].long(),  # (W, N)
            "seen": torch.arange(start + 1, start + length + 1, dtype=torch.float32),  # (W,)
            "valid": torch.arange(lo, start + length) >= 0,  # (P+W,)
            "targets": self.spikes[start + 1 : start + length + 1].float(),  # (W, N)
        }


class BankWindows(Dataset):
    """Windows of a :class:`FeatureBank` whose targets lie in bins ``[first, last)``.

    Parameters
    ----------
    bank : FeatureBank
    window : int
        Bins per window.
    first, last : int
        Range of target bins (``first >= 1``).
    n_windows : int or None
        Random windows per epoch (fresh starts on every access, seeded); None: consecutive,
        non-overlapping windows covering the range (the last one may be shorter: it is dropped if so).
    seed : int
    """

    def __init__(self, bank: FeatureBank, window: int, first: int, last: int,
                 n_windows: int | None = None, seed: int = 0) -> None:  # fmt: skip
        self.bank, self.window, self.n_windows = bank, window, n_windows
        self.lo, self.hi = first - 1, last - 1 - window  # window starts: inputs start .. start+W-1
        self.rng = np.random.default_rng(seed)
        self.starts = np.arange(self.lo, self.hi + 1, window) if n_windows is None else None

    def __len__(self) -> int:
        return self.n_windows if self.n_windows is not None else len(self.starts)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self.n_windows is None:
            start = int(self.starts[index])
        else:
            start = int(self.rng.integers(self.lo, self.hi + 1))
        return self.bank.window(start, self.window)
