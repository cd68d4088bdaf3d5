"""The analysis window and its train / validation / test split (the protocol's time layout).

Default (the seed paper): 7.5 min of spontaneous activity, 5 min train then 2.5 min test, with a
validation part carved from the end of the train part. A recording shorter than 7.5 min is split
in the same 2:1 proportion, with a warning; an explicitly requested window that the recording
cannot hold is an error.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

Span = tuple[float, float]


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
        }


def plan_split(duration: float, cfg: WindowConfig, source: str = "recording") -> SplitPlan:
    """Lay the window and its parts on a recording of ``duration`` seconds.

    Every boundary is a whole number of bins, so that parts never share a bin.
    """
    available = duration - cfg.skip_s
    wanted = cfg.train_s + cfg.test_s
    if available <= 0:
        raise SpikebridgeDataError(f"{source}: skip of {cfg.skip_s:g} s is past the end ({duration:g} s)")
    if cfg.length_s is not None:
        if cfg.length_s > available + 1e-9:
            raise SpikebridgeDataError(
                f"{source}: requested window of {cfg.length_s:g} s after skipping {cfg.skip_s:g} s, "
                f"but only {available:g} s are recorded"
            )
        length = cfg.length_s
    else:
        length = min(wanted, available)
    shortened = length < wanted - 1e-9
    if shortened:
        warnings.warn(
            f"{source}: window is {length:g} s, shorter than {wanted:g} s; splitting it "
            f"{cfg.train_s:g}:{cfg.test_s:g} (train:test)",
            stacklevel=2,
        )
    bs = cfg.bin_size
    start = round(cfg.skip_s / bs)
    n_total = int(length / bs + 1e-6)
    n_train = round(n_total * cfg.train_s / wanted)
    n_val = max(1, round(n_train * cfg.val_fraction))
    if n_train - n_val < 1 or n_total - n_train < 2:
        raise SpikebridgeDataError(f"{source}: window of {length:g} s is too short to split")
    edges = [start, start + n_train - n_val, start + n_train, start + n_total]
    sec = [e * bs for e in edges]
    return SplitPlan(fit=(sec[0], sec[1]), val=(sec[1], sec[2]), test=(sec[2], sec[3]), shortened=shortened)


def spans_overlap(a: Span, b: Span) -> bool:
    """True when two half-open spans share any time."""
    return a[0] < b[1] and b[0] < a[1]


__all__ = ["SplitPlan", "WindowConfig", "plan_split", "spans_overlap"]
