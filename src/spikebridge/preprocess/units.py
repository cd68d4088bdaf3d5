"""The 128-unit standardisation: which units become the model's columns, and in what order.

The rule is computed on the train part only. Default ("rate"): the ``n_units`` most active units,
ordered by decreasing firing rate (ties by source order), so column i means "the i-th most active
unit" in every recording. With fewer units than columns the rest are padded with silent columns
that the mask marks as not real.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikebridge.errors import SpikebridgeConfigError

RULES = ("rate", "source")


@dataclass(frozen=True)
class UnitSelection:
    """Column layout of a standardised raster.

    Attributes
    ----------
    index : ndarray of int64, shape (n_columns,)
        Source unit for each column, -1 for padding.
    mask : ndarray of bool, shape (n_columns,)
        True for real units.
    rule : str
    train_rates : ndarray, shape (n_columns,)
        Spiking-bin probability of each column on the train part (0 for padding).
    """

    index: np.ndarray
    mask: np.ndarray
    rule: str
    train_rates: np.ndarray

    @property
    def n_columns(self) -> int:
        return int(self.index.size)

    def apply(self, data: np.ndarray) -> np.ndarray:
        """Reorder / pad a (n_bins, n_source_units) raster to (n_bins, n_columns)."""
        out = np.zeros((data.shape[0], self.n_columns), dtype=data.dtype)
        real = self.index >= 0
        out[:, real] = data[:, self.index[real]]
        return out

    def to_dict(self) -> dict:
        return {"index": self.index.tolist(), "mask": self.mask.tolist(), "rule": self.rule}


def select_units(train: np.ndarray, n_columns: int = 128, rule: str = "rate") -> UnitSelection:
    """Choose and order columns from the train part's raster.

    Parameters
    ----------
    train : ndarray of bool, shape (n_bins, n_source_units)
        The train part only (never test bins).
    n_columns : int
        Number of model columns (128 in the paper).
    rule : {"rate", "source"}
        "rate": most active first; "source": the first ``n_columns`` units in source order.
    """
    if rule not in RULES:
        raise SpikebridgeConfigError(f"unit rule must be one of {RULES}, got {rule!r}")
    if n_columns < 1:
        raise SpikebridgeConfigError(f"number of units must be positive, got {n_columns}")
    rates = train.mean(axis=0) if train.shape[0] else np.zeros(train.shape[1])
    if rule == "rate":
        order = np.argsort(-rates, kind="stable")
    else:
        order = np.arange(train.shape[1])
    chosen = order[:n_columns]
    index = np.full(n_columns, -1, dtype=np.int64)
    index[: chosen.size] = chosen
    mask = index >= 0
    col_rates = np.zeros(n_columns)
    col_rates[mask] = rates[chosen]
    return UnitSelection(index=index, mask=mask, rule=rule, train_rates=col_rates)
