"""Preprocessing as pure functions: binning, windows and splits, unit standardisation."""

from spikebridge.preprocess.binning import bin_spikes
from spikebridge.preprocess.prepare import (
    PrepareConfig,
    PreparedRecording,
    load_prepared,
    prepare,
    save_prepared,
)
from spikebridge.preprocess.split import SplitPlan, WindowConfig, plan_split
from spikebridge.preprocess.units import UnitSelection, select_units

__all__ = [
    "PrepareConfig",
    "PreparedRecording",
    "SplitPlan",
    "UnitSelection",
    "WindowConfig",
    "bin_spikes",
    "load_prepared",
    "plan_split",
    "prepare",
    "save_prepared",
    "select_units",
]
