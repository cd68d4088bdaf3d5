"""The analysis window and its train / validation / test split (the protocol's time layout).

Default (the seed paper): 7.5 min of spontaneous activity, 5 min train then 2.5 min test, with a
validation part carved from the end of the train part. A recording shorter than 7.5 min is split
in the same 2:1 proportion, with a warning that gives the actual spans; an explicitly requested
window that the recording cannot hold is an error, and so is a window shorter than
:func:`minimum_length` (the shortest whose parts can still be scored: a test part of at least
``MIN_TEST_S`` and a validation part of at least ``MIN_VAL_S``).

The window starts ``skip_s`` after the recording's start on its own clock (``origin``), which is not
always 0: some files keep spikes from, say, 3600 s on.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

Span = tuple[float, float]

MIN_TEST_S = 10.0
"""Shortest test part (s): ten bootstrap blocks of the 1 s minimum block length."""
MIN_VAL_S = 1.0
"""Shortest validation part (s): it chooses thresholds, fits calibrations and stops training early."""


@dataclass(frozen=True)
class WindowConfig:
    """Where the analysed window lies and how it is split (all in seconds).

    Attributes
    ----------
    skip_s : float
        Time skipped at the start of the recording (the paper skips 30 min of slice recordings).
    length_s : float or None
        Window length; None means ``train_s + test_s`` or the whole remaining recording when it
        is shorter (with a warning). An explicit length longer than the recording is an error.
    train_s, test_s : float
        Lengths of the train and test parts (their ratio is kept for shorter windows).
    val_fraction : float
        Fraction of the train part, taken from its end, used for validation (model selection).
    bin_size : float
        Bin width in seconds.
    """

    skip_s: float = 0.0
    length_s: float | None = None
    train_s: float = 300.0
    test_s: float = 150.0
    val_fraction: float = 0.1
    bin_size: float = 1e-3

    def __post_init__(self) -> None:
        for key in ("skip_s", "train_s", "test_s", "bin_size"):
            value = getattr(self, key)
            if value < 0 or (key != "skip_s" and value == 0):
                raise SpikebridgeConfigError(f"window option {key} must be positive, got {value}")
        if self.length_s is not None and self.length_s <= 0:
            raise SpikebridgeConfigError(f"window option length_s must be positive, got {self.length_s}")
        if not 0 < self.val_fraction < 1:
            raise SpikebridgeConfigError(
                f"window option val_fraction must be in (0, 1), got {self.val_fraction}"
            )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SplitPlan:
    """Spans of the three parts in the recording's clock (seconds), disjoint and in time order."""

    fit: Span
    val: Span
    test: Span
    shortened: bool
    origin: float = 0.0
    origin_rule: str = "recording start"

    @property
    def train(self) -> Span:
        """The whole train part (fit + validation)."""
        return (self.fit[0], self.val[1])

    def to_dict(self) -> dict:
        return {
            "fit": list(self.fit),
            "val": list(self.val),
            "test": list(self.test),
            "shortened": self.shortened,
            "origin": self.origin,
            "origin_rule": self.origin_rule,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SplitPlan:
        """Inverse of :meth:`to_dict` (files written before ``origin`` existed start at 0)."""
        return cls(
            fit=tuple(d["fit"]),
            val=tuple(d["val"]),
            test=tuple(d["test"]),
            shortened=d["shortened"],
            origin=d.get("origin", 0.0),
            origin_rule=d.get("origin_rule", "recording start"),
        )


def _part_bins(n_total: int, cfg: WindowConfig) -> tuple[int, int, int]:
    """(fit, validation, test) bins of a window of ``n_total`` bins."""
    n_train = round(n_total * cfg.train_s / (cfg.train_s + cfg.test_s))
    n_val = max(1, round(n_train * cfg.val_fraction))
    return n_train - n_val, n_val, n_total - n_train


def minimum_length(cfg: WindowConfig) -> float:
    """Shortest window (s) whose test part holds ``MIN_TEST_S`` and validation part ``MIN_VAL_S``.

    Computed in whole bins with the same rounding as :func:`plan_split`, so it depends on the bin
    size, the train:test ratio and the validation fraction (30 s for the defaults).
    """
    bs = cfg.bin_size
    min_test, min_val = math.ceil(MIN_TEST_S / bs - 1e-9), math.ceil(MIN_VAL_S / bs - 1e-9)
    wanted = cfg.train_s + cfg.test_s
    n = max(min_test * wanted / cfg.test_s, min_val * wanted / (cfg.train_s * cfg.val_fraction), min_test + 2)
    n = max(1, math.floor(n) - 2)
    while True:
        n_fit, n_val, n_test = _part_bins(n, cfg)
        if n_fit >= 1 and n_val >= min_val and n_test >= min_test:
            return n * bs
        n += 1


def plan_split(
    duration: float,
    cfg: WindowConfig,
    source: str = "recording",
    start: float = 0.0,
    start_rule: str = "recording start",
) -> SplitPlan:
    """Lay the window and its parts on a recording that ends at ``duration`` s on its clock.

    Parameters
    ----------
    duration : float
        End of the recording on its clock, seconds.
    cfg : WindowConfig
    source : str
        Named in messages.
    start : float
        Start of the recording on its clock (the window begins ``cfg.skip_s`` after it).
    start_rule : str
        How ``start`` was found ("recording start", or "first spike" when the file gives none).

    Every boundary is a whole number of bins after ``start``, so that parts never share a bin.
    """
    available = duration - start - cfg.skip_s
    wanted = cfg.train_s + cfg.test_s
    if available <= 0:
        raise SpikebridgeDataError(
            f"{source}: skip of {cfg.skip_s:g} s is past the end ({duration - start:g} s recorded)"
        )
    if cfg.length_s is not None:
        if cfg.length_s > available + 1e-9:
            raise SpikebridgeDataError(
                f"{source}: requested window of {cfg.length_s:g} s after skipping {cfg.skip_s:g} s, "
                f"but only {available:g} s are recorded"
            )
        length = cfg.length_s
    else:
        length = min(wanted, available)
    need = minimum_length(cfg)
    if length < need - 1e-9:
        raise SpikebridgeDataError(
            f"{source}: window of {length:g} s is too short; the minimum is {need:g} s (a test part of "
            f">= {MIN_TEST_S:g} s and a validation part of >= {MIN_VAL_S:g} s with a "
            f"{cfg.train_s:g}:{cfg.test_s:g} train:test split, {100 * cfg.val_fraction:g}% validation "
            f"and {1000 * cfg.bin_size:g} ms bins)"
        )
    bs = cfg.bin_size
    n_skip = round(cfg.skip_s / bs)
    n_fit, n_val, n_test = _part_bins(int(length / bs + 1e-6), cfg)
    edges = [n_skip, n_skip + n_fit, n_skip + n_fit + n_val, n_skip + n_fit + n_val + n_test]
    sec = [start + e * bs for e in edges]
    shortened = length < wanted - 1e-9
    if shortened:
        warnings.warn(
            f"{source}: window is {length:g} s, shorter than {wanted:g} s; split in the same proportion "
            f"into train {sec[2] - sec[0]:g} s (validation: its last {sec[2] - sec[1]:g} s) and test "
            f"{sec[3] - sec[2]:g} s",
            stacklevel=2,
        )
    return SplitPlan(
        fit=(sec[0], sec[1]),
        val=(sec[1], sec[2]),
        test=(sec[2], sec[3]),
        shortened=shortened,
        origin=float(start),
        origin_rule=start_rule,
    )


def spans_overlap(a: Span, b: Span) -> bool:
    """True when two half-open spans share any time."""
    return a[0] < b[1] and b[0] < a[1]


__all__ = [
    "MIN_TEST_S",
    "MIN_VAL_S",
    "SplitPlan",
    "WindowConfig",
    "minimum_length",
    "plan_split",
    "spans_overlap",
]
