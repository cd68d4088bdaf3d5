"""Core data types (numpy only)."""

from spikebridge.data.types import BinnedSpikes, RecordingInfo, SpikeTrains, Traces

__all__ = ["BinnedSpikes", "RecordingInfo", "SpikeTrains", "Traces"]
