"""Unit metadata files shipped beside the Shimono lab's slice recordings.

``xy.mat`` (unit positions, um), ``cell_categ.mat`` (struct with ``exc`` / ``inh`` flags and the
cortical ``layer``), ``synapse_label.mat`` (n x n, +1 excitatory / -1 inhibitory / 0 none: the
authors' connectivity estimate from the same recording).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikebridge.errors import SpikebridgeDataError


def _loadmat(path: Path) -> dict:
    from scipy.io import loadmat

    try:
        return loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except Exception as exc:
        raise SpikebridgeDataError(f"{path}: cannot read MATLAB file ({exc})") from exc


def read_slice_unit_meta(folder: str | Path, n_units: int) -> dict[str, np.ndarray]:
    """Per-unit columns from ``xy.mat`` and ``cell_categ.mat`` when present (each of length n_units)."""
    folder = Path(folder)
    meta: dict[str, np.ndarray] = {}
    if (folder / "xy.mat").is_file():
        xy = _loadmat(folder / "xy.mat")
        meta["x_um"] = np.asarray(xy["x"], dtype=np.float64).ravel()
        meta["y_um"] = np.asarray(xy["y"], dtype=np.float64).ravel()
    if (folder / "cell_categ.mat").is_file():
        categ = _loadmat(folder / "cell_categ.mat")["cell_categ"]
        for key in ("exc", "inh", "layer"):
            if hasattr(categ, key):
                meta[key] = np.asarray(getattr(categ, key)).ravel()
    for key, col in meta.items():
        if col.size != n_units:
            raise SpikebridgeDataError(
                f"{folder}: unit metadata {key!r} has {col.size} rows for {n_units} units"
            )
    return meta


def read_synapse_labels(folder: str | Path) -> np.ndarray:
    """The ``synapse_label`` matrix (n x n int8) of a slice recording folder."""
    path = Path(folder) / "synapse_label.mat"
    if not path.is_file():
        raise SpikebridgeDataError(f"{path}: file not found")
    return np.asarray(_loadmat(path)["synapse_label"], dtype=np.int8)
