"""Window datasets over binary rasters for next-bin training, and a data hash.

A window of length ``W`` is ``W + 1`` consecutive bins: the input is bins ``0..W-1`` and the target
bins ``1..W`` (target ``t`` is the bin after input ``t``).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch.utils.data import Dataset

from spikebridge.errors import SpikebridgeDataError


def data_hash(*arrays: np.ndarray) -> str:
    """SHA-256 (hex, first 16 characters) of the shapes, dtypes and bytes of ``arrays``."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def check_raster(raster: np.ndarray, name: str, n_units: int, min_bins: int) -> np.ndarray:
    """Validate a (T, N) raster and return it as bool; raises :class:`SpikebridgeDataError`."""
    raster = np.asarray(raster)
    if raster.ndim != 2 or raster.shape[1] != n_units:
        raise SpikebridgeDataError(f"{name} must have shape (T, {n_units}), got {raster.shape}")
    if raster.shape[0] < min_bins:
        raise SpikebridgeDataError(f"{name} has {raster.shape[0]} bins, need at least {min_bins}")
    return raster.astype(bool, copy=False)


def _pair(segment: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    seg = torch.from_numpy(segment.astype(np.float32))  # (W+1, N)
    return seg[:-1], seg[1:]  # inputs (W, N), targets (W, N)


class RandomWindows(Dataset):
    """``n_windows`` windows at random starts, drawn afresh on every access from a seeded generator.

    Parameters
    ----------
    raster : ndarray ``(T, N)`` bool
    window : int
        Input length W (``T >= W + 1``).
    n_windows : int
        Length of the dataset (windows per epoch).
    seed : int
    """

    def __init__(self, raster: np.ndarray, window: int, n_windows: int, seed: int = 0) -> None:
        self.raster, self.window, self.n_windows = raster, window, n_windows
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.n_windows

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = int(self.rng.integers(0, self.raster.shape[0] - self.window))
        return _pair(self.raster[start : start + self.window + 1])


class FixedWindows(Dataset):
    """Up to ``n_windows`` non-overlapping windows, evenly spread over the raster (deterministic).

    Parameters
    ----------
    raster : ndarray ``(T, N)`` bool
    window : int
        Input length W; shortened to ``T - 1`` if the raster is shorter than one window.
    n_windows : int
    """

    def __init__(self, raster: np.ndarray, window: int, n_windows: int) -> None:
        self.raster = raster
        self.window = min(window, raster.shape[0] - 1)
        available = raster.shape[0] // (self.window + 1)
        chosen = np.linspace(0, available - 1, num=min(n_windows, available)).round().astype(int)
        self.starts = np.unique(chosen) * (self.window + 1)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = int(self.starts[index])
        return _pair(self.raster[start : start + self.window + 1])
