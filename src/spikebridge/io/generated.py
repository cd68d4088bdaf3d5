"""Generated activity on disk: NWB Units or asdf ``.mat``, with its provenance, and back.

Layout (both formats): the trials are laid end to end in time (trial ``k`` covers
``[k * T * bin, (k + 1) * T * bin)`` seconds), each spike at the centre of its bin, so any NWB or asdf
tool (and ``spikebridge prepare``) reads the file as one recording. The provenance is a JSON object
(:data:`META_KEY` ``"spikebridge_generated"`` at its top) kept in the NWB file's ``notes`` or in the
``.mat`` file's ``spikebridge`` variable; it also holds the trial count, the bin size, the unit mask
and the prefix recording's unit ids, so :func:`read_generated` restores the trials exactly. NWB files
also get a trials table and per-unit columns ``real`` and ``source_unit_id``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from spikebridge.data.generated import GeneratedSpikes
from spikebridge.errors import SpikebridgeDataError
from spikebridge.io.asdf import read_asdf
from spikebridge.io.writers import write_asdf, write_nwb_units

META_KEY = "spikebridge_generated"
FORMATS = {".nwb": "nwb", ".mat": "asdf"}


def generated_format(path: Path) -> str:
    """ "nwb" or "asdf" from the suffix of ``path``; other suffixes raise SpikebridgeDataError."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SpikebridgeDataError(f"{path}: generated files are .nwb (NWB Units) or .mat (asdf)")
    return fmt


def _meta_json(gen: GeneratedSpikes) -> str:
    layout = {
        "n_trials": gen.n_trials,
        "n_bins_per_trial": gen.n_bins,
        "bin_size_s": gen.bin_size,
        "unit_mask": gen.unit_mask.astype(int).tolist(),
        "unit_ids": gen.unit_ids.tolist(),
        "info": gen.info.to_dict(),
    }
    return json.dumps({META_KEY: 1, "layout": layout, "provenance": gen.metadata}, default=str)


def write_generated(gen: GeneratedSpikes, path: str | Path) -> Path:
    """Write generated trials to ``path`` (``.nwb``: NWB Units; ``.mat``: asdf), atomically."""
    path = Path(path)
    fmt = generated_format(path)
    trains = gen.to_trains()
    notes = _meta_json(gen)
    if fmt == "asdf":
        return write_asdf(trains, path, gen.bin_size, extra={"spikebridge": notes})
    prov = gen.metadata
    description = (
        f"spikebridge free-running generation: {gen.n_trials} trial(s) of {gen.trial_duration:g} s, "
        f"model {prov.get('model', '?')}, prefix {prov.get('prefix_recording', '?')}, seed {prov.get('seed', '?')}"
    )
    columns = {"real": gen.unit_mask, "source_unit_id": gen.unit_ids}
    return write_nwb_units(
        trains, path, description, notes, gen.trial_spans(), columns, keywords=("spikebridge", "generated")
    )


def _parse_meta(text: str | None, path: Path) -> dict | None:
    if not text:
        return None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(meta, dict) or META_KEY not in meta:
        return None
    if "layout" not in meta:
        raise SpikebridgeDataError(f"{path}: spikebridge metadata has no layout")
    return meta


def _nwb_notes(path: Path) -> str | None:
    from pynwb import NWBHDF5IO

    try:
        with NWBHDF5IO(str(path), "r", load_namespaces=True) as nwb_io:
            return nwb_io.read().notes
    except Exception as exc:  # the Units reader below reports unreadable files with their cause
        raise SpikebridgeDataError(f"{path}: not a readable NWB file ({type(exc).__name__})") from exc


def _mat_notes(path: Path) -> str | None:
    from scipy.io import loadmat

    try:
        value = loadmat(str(path), variable_names=["spikebridge"]).get("spikebridge")
    except Exception:  # not a v5 file (e.g. v7.3): no spikebridge metadata
        return None
    return None if value is None else str(np.asarray(value).ravel()[0])


def read_generated(path: str | Path, bin_size: float = 1e-3) -> GeneratedSpikes:
    """Read a file written by :func:`write_generated`, or any NWB Units / asdf recording as one trial.

    Parameters
    ----------
    path : str or Path
        ``.nwb`` or ``.mat`` file.
    bin_size : float
        Bin width (s) for files without spikebridge metadata (the metadata's own wins).

    Returns
    -------
    GeneratedSpikes
        Trials, mask, unit ids and provenance as written; a foreign file is one trial, all columns real.
    """
    from spikebridge.io.nwb import read_nwb_units

    path = Path(path)
    fmt = generated_format(path)
    meta = _parse_meta(_nwb_notes(path) if fmt == "nwb" else _mat_notes(path), path)
    layout = meta["layout"] if meta else {}
    n_trials = int(layout.get("n_trials", 1))
    size = float(layout.get("bin_size_s", bin_size))
    duration = n_trials * int(layout["n_bins_per_trial"]) * size if layout else None
    if fmt == "nwb":
        trains = read_nwb_units(path, duration=duration)
    else:
        trains = read_asdf(path, bin_size_ms=size * 1000.0 if meta else None)
    info = trains.info
    if layout.get("info"):
        from spikebridge.data.types import RecordingInfo

        info = replace(RecordingInfo(**layout["info"]), source=str(path))
    trains = replace(trains, info=info)
    mask = np.asarray(layout["unit_mask"], bool) if layout else None
    ids = np.asarray(layout["unit_ids"]) if layout else np.asarray(trains.unit_ids)
    return GeneratedSpikes.from_trains(
        trains, n_trials, size, mask, ids, (meta or {}).get("provenance", {"source_file": str(path)})
    )
