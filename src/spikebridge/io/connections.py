"""Connection matrices: known or estimated synaptic connections between the units of a recording.

A connection file holds one square matrix over the recording's units in their file order, with positive
entries for excitatory connections, negative for inhibitory and 0 for none (weights are allowed; their
sign is what counts). Formats: ``.npy``, ``.csv``/``.txt`` (comma, tab or space separated) and MATLAB
``.mat`` (the named variable, else the only square numeric matrix in the file; ``synapse_label.mat`` of
the Shimono slices stores ``synapse_label``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikebridge.errors import SpikebridgeDataError


def _from_mat(path: Path, variable: str | None) -> np.ndarray:
    from scipy.io import loadmat

    try:
        content = loadmat(str(path))
    except Exception as exc:
        raise SpikebridgeDataError(f"{path}: cannot read MATLAB file ({exc})") from exc
    arrays = {k: v for k, v in content.items() if not k.startswith("__") and isinstance(v, np.ndarray)}
    if variable is not None:
        if variable not in arrays:
            raise SpikebridgeDataError(
                f"{path}: no variable {variable!r} (has {', '.join(arrays) or 'none'})"
            )
        return arrays[variable]
    square = [
        k for k, v in arrays.items() if v.ndim == 2 and v.shape[0] == v.shape[1] and v.dtype.kind in "iuf"
    ]
    if len(square) != 1:
        raise SpikebridgeDataError(
            f"{path}: expected one square numeric matrix, found {square or 'none'}; name it"
        )
    return arrays[square[0]]


def read_connection_matrix(path: str | Path, variable: str | None = None) -> np.ndarray:
    """Read a square connection matrix ``(S, S)`` float64 (see the module docstring).

    Raises
    ------
    SpikebridgeDataError
        Missing or unreadable file, or not a finite square numeric matrix; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise SpikebridgeDataError(f"{path}: connection file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            matrix = np.load(path, allow_pickle=False)
        elif suffix in (".csv", ".txt", ".tsv"):
            text = path.read_text()
            matrix = np.loadtxt(path, delimiter="," if "," in text else None, ndmin=2)
        elif suffix == ".mat":
            matrix = _from_mat(path, variable)
        else:
            raise SpikebridgeDataError(
                f"{path}: unknown connection file type {suffix!r} (npy, csv, txt, mat)"
            )
    except SpikebridgeDataError:
        raise
    except Exception as exc:
        raise SpikebridgeDataError(
            f"{path}: cannot read connection matrix ({exc.__class__.__name__})"
        ) from exc
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.dtype.kind not in "iuf":
        raise SpikebridgeDataError(
            f"{path}: connection matrix must be square and numeric, got {matrix.shape}"
        )
    matrix = matrix.astype(np.float64)
    if not np.isfinite(matrix).all():
        raise SpikebridgeDataError(f"{path}: connection matrix holds NaN or infinite values")
    return matrix
