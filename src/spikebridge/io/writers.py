"""Writers of spike trains in formats other tools read: NWB Units tables and MATLAB asdf ``.mat`` files.

Both write atomically (a temporary file renamed over the target) and are read back by this package's
readers (:func:`spikebridge.io.nwb.read_nwb_units`, :func:`spikebridge.io.asdf.read_asdf`), so
``spikebridge prepare FILE`` accepts what they write.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from spikebridge.atomic import atomic_path
from spikebridge.data.types import SpikeTrains
from spikebridge.errors import SpikebridgeDataError

PREP_KEYWORDS = {"in_vitro": "in vitro", "in_vivo": "in vivo"}


def write_nwb_units(
    trains: SpikeTrains,
    path: str | Path,
    description: str,
    notes: str = "",
    trials: list[tuple[float, float]] | None = None,
    unit_columns: dict[str, np.ndarray] | None = None,
    keywords: tuple[str, ...] = (),
) -> Path:
    """Write spike trains as the Units table of a new NWB 2 file (pynwb).

    Parameters
    ----------
    trains : SpikeTrains
        Spike times in seconds; unit ids become the table's ids.
    path : str or Path
        Target ``.nwb`` file (replaced if it exists).
    description : str
        The file's session description.
    notes : str
        Free text kept in the file's ``notes`` (e.g. JSON provenance); read back unchanged.
    trials : list of (start, stop) seconds, optional
        Rows of the file's trials table.
    unit_columns : dict of str to ndarray, optional
        Extra 1-D per-unit columns (numbers or booleans).
    keywords : tuple of str
        File keywords; the preparation ("in vitro" / "in vivo") is added from ``trains.info``.

    Returns
    -------
    Path of the written file.
    """
    from pynwb import NWBHDF5IO, NWBFile

    info = trains.info
    words = list(keywords)
    if info.preparation in PREP_KEYWORDS:
        words.append(PREP_KEYWORDS[info.preparation])
    nwb = NWBFile(
        session_description=description,
        identifier=str(uuid.uuid4()),
        session_start_time=datetime.now(UTC),
        notes=notes or None,
        keywords=words or None,
        lab=info.lab or None,
        session_id=info.session or None,
    )
    columns = {k: np.asarray(v) for k, v in (unit_columns or {}).items()}
    for name, values in columns.items():
        if values.shape != (trains.n_units,):
            raise SpikebridgeDataError(f"{path}: unit column {name!r} must have {trains.n_units} values")
        nwb.add_unit_column(name=name, description=name.replace("_", " "))
    for i, times in enumerate(trains.times):
        row = {name: values[i].item() for name, values in columns.items()}
        nwb.add_unit(spike_times=times, id=int(trains.unit_ids[i]), **row)
    for start, stop in trials or ():
        nwb.add_trial(start_time=float(start), stop_time=float(stop))
    path = Path(path)
    with atomic_path(path, suffix=".nwb") as tmp, NWBHDF5IO(str(tmp), "w") as nwb_io:
        nwb_io.write(nwb)
    return path


def write_asdf(
    trains: SpikeTrains,
    path: str | Path,
    bin_size: float = 1e-3,
    variable: str = "asdf",
    extra: dict[str, object] | None = None,
) -> Path:
    """Write spike trains as a MATLAB v5 asdf cell array (the seed paper's format).

    Cells ``1..n_units`` hold each unit's spike times as 1-based indices of ``bin_size`` bins
    (``floor(t / bin_size) + 1``), cell ``n_units + 1`` the bin size in ms, the last cell
    ``[n_units, n_bins]`` with ``n_bins = round(duration / bin_size)``; a ``n x 1`` layout.

    Parameters
    ----------
    trains : SpikeTrains
    path : str or Path
        Target ``.mat`` file (replaced if it exists).
    bin_size : float
        Bin width in seconds.
    variable : str
        Name of the cell-array variable.
    extra : dict, optional
        Other variables saved beside it (strings or numeric arrays; not cell arrays).
    """
    from scipy.io import savemat

    n_bins = int(round(trains.duration / bin_size))
    cells = np.empty((trains.n_units + 2, 1), dtype=object)
    for i, times in enumerate(trains.times):
        index = np.floor(times / bin_size).astype(np.int64) + 1
        cells[i, 0] = np.unique(np.clip(index, 1, n_bins)).astype(np.float64).reshape(1, -1)
    cells[-2, 0] = np.array([[bin_size * 1000.0]])
    cells[-1, 0] = np.array([[float(trains.n_units), float(n_bins)]])
    path = Path(path)
    with atomic_path(path, suffix=".mat") as tmp:
        savemat(str(tmp), {variable: cells, **(extra or {})}, do_compression=True)
    return path
