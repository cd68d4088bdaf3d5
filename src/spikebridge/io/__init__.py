"""Readers: one per file format, each returning spikebridge data types.

``read_recording(path)`` picks the reader from the file or folder it is given; each reader can
also be called directly. Heavy dependencies (pynwb, spikeinterface) load only when their reader runs.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

READERS: dict[str, str] = {
    "asdf": "spikebridge.io.asdf:read_asdf",
    "mea_h5": "spikebridge.io.mea_h5:read_mea_h5",
    "alf": "spikebridge.io.alf:read_alf",
    "nwb": "spikebridge.io.nwb:read_nwb_units",
    "nwb_ophys": "spikebridge.io.nwb:read_nwb_ophys",
    "phy": "spikebridge.io.phy:read_phy",
    "suite2p": "spikebridge.io.suite2p:read_suite2p",
}

SPIKE_FORMATS = ("asdf", "mea_h5", "alf", "nwb", "phy")
CALCIUM_FORMATS = ("suite2p", "nwb_ophys")


def get_reader(fmt: str):
    """The reader function registered under ``fmt``."""
    if fmt not in READERS:
        raise SpikebridgeDataError(f"unknown format {fmt!r}; known: {', '.join(READERS)}")
    module, func = READERS[fmt].split(":")
    return getattr(import_module(module), func)


def detect_format(path: str | Path) -> str:
    """Guess the format of a recording file or folder from its name and first bytes."""
    path = Path(path)
    if not path.exists():
        raise SpikebridgeDataError(f"{path}: file not found")
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
        if "spikes.times.npy" in names:
            return "alf"
        if "spike_times.npy" in names:
            return "phy"
        if "F.npy" in names or "spks.npy" in names:
            return "suite2p"
        raise SpikebridgeDataError(f"{path}: folder is not an ALF, phy/Kilosort or suite2p output")
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return "asdf"
    if suffix == ".nwb":
        return "nwb"
    if suffix in (".h5", ".hdf5"):
        return "mea_h5"
    raise SpikebridgeDataError(
        f"{path}: unsupported file type {suffix or '(none)'}; supported: .mat (asdf), .h5 (MEA), "
        ".nwb, and ALF / phy / suite2p folders"
    )


def check_options(fmt: str, options: dict[str, Any]) -> None:
    """Refuse reader options that the reader of ``fmt`` does not take, naming them."""
    import inspect

    accepted = inspect.signature(get_reader(fmt)).parameters
    unknown = sorted(k for k in options if k not in accepted)
    if unknown:
        raise SpikebridgeConfigError(
            f"option {', '.join(unknown)} does not apply to {fmt} recordings "
            f"(its reader takes: {', '.join(k for k in accepted if k not in ('path', 'folder', 'info'))})"
        )


def read_recording(path: str | Path, fmt: str | None = None, **options: Any):
    """Read any supported recording; returns SpikeTrains (spikes) or Traces (calcium)."""
    fmt = fmt or detect_format(path)
    check_options(fmt, options)
    return get_reader(fmt)(path, **options)


__all__ = [
    "CALCIUM_FORMATS",
    "READERS",
    "SPIKE_FORMATS",
    "check_options",
    "detect_format",
    "get_reader",
    "read_recording",
]
