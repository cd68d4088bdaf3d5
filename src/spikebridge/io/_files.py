"""Safe loading of numpy files shared by the readers, and one-line summaries of low-level errors.

IBL tables and suite2p outputs store object arrays, which numpy pickles. These loaders unpickle
with an unpickler that rebuilds numpy arrays and plain values only and refuses anything else.
"""

from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.errors import SpikebridgeDataError

_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and scalars and refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy.core is a deprecated alias in numpy 2
            return super().find_class(module, name)


def short_error(exc: BaseException) -> str:
    """One-line summary of an exception for an error message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def load_npy_safely(stream: io.IOBase | io.BytesIO) -> Any:
    """Read one ``.npy`` stream; object arrays may only hold numpy values, strings and numbers.

    Parameters
    ----------
    stream : binary file object
        Positioned at the start of the ``.npy`` data; must support ``seek``.

    Returns
    -------
    ndarray
        The stored array (an object array keeps its Python objects: dicts, lists, str, ...).

    Raises
    ------
    ValueError, OSError, EOFError, pickle.UnpicklingError
        On a truncated or corrupt stream, or a pickle that holds anything but plain values.
    """
    version = np.lib.format.read_magic(stream)
    read_header = (
        np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read_header(stream)
    if not dtype.hasobject:
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)
    array = _ArrayOnlyUnpickler(stream).load()
    if not isinstance(array, np.ndarray) or array.size != int(np.prod(shape)):
        raise ValueError("the pickled payload is not the array its header announces")
    return array.reshape(shape, order="F" if fortran else "C")


def load_npy(path: Path) -> np.ndarray:
    """Load one ``.npy`` file with :func:`load_npy_safely`.

    Raises
    ------
    SpikebridgeDataError
        When the file is missing, truncated, corrupt or not a ``.npy`` file (the message names it).
    """
    if not path.is_file():
        raise SpikebridgeDataError(f"{path}: file not found")
    try:
        with path.open("rb") as fh:
            return np.asarray(load_npy_safely(fh))
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise SpikebridgeDataError(f"{path}: not a readable .npy file ({short_error(exc)})") from exc


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Load every array of a ``.npz`` archive, with the same safety rules as :func:`load_npy_safely`."""
    if not path.is_file():
        raise SpikebridgeDataError(f"{path}: file not found")
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if member.endswith(".npy"):
                    out[member[: -len(".npy")]] = np.asarray(
                        load_npy_safely(io.BytesIO(archive.read(member)))
                    )
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        raise SpikebridgeDataError(f"{path}: not a readable .npz archive ({short_error(exc)})") from exc
    if not out:
        raise SpikebridgeDataError(f"{path}: the archive holds no arrays")
    return out
