"""The catalog of known recordings (``catalog.yaml``), resolved against a data root.

The data root is, in order: an explicit argument (the CLI's ``--data-root``), the environment
variable ``SPIKEBRIDGE_DATA``, then ``../shared/data`` relative to the working directory or to
the project checkout, when it exists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from spikebridge.data.types import RecordingInfo, SpikeTrains, Traces
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

ENV_VAR = "SPIKEBRIDGE_DATA"


@dataclass(frozen=True)
class CatalogEntry:
    """One known recording: where it lives, how to read it, what it is."""

    name: str
    kind: str
    preparation: str
    path: str
    reader: str
    species: str = ""
    region: str = ""
    lab: str = ""
    session: str = ""
    source: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    unit_meta: dict[str, Any] = field(default_factory=dict)
    window: dict[str, Any] = field(default_factory=dict)

    def file(self, root: Path) -> Path:
        return Path(root) / self.path

    def present(self, root: Path | None) -> bool:
        return root is not None and self.file(root).exists()

    def info(self, root: Path) -> RecordingInfo:
        return RecordingInfo(
            name=self.name,
            preparation=self.preparation,
            species=self.species,
            region=self.region,
            lab=self.lab,
            session=self.session,
            source=str(self.file(root)),
        )

    def load(self, root: Path | None = None, **overrides: Any) -> SpikeTrains | Traces:
        """Read the recording with the catalog's reader and options (``overrides`` win)."""
        from spikebridge.io import check_options, get_reader

        check_options(self.reader, overrides)
        root = resolve_data_root(root)
        target = self.file(root)
        if not target.exists():
            raise SpikebridgeDataError(f"{target}: file not found (catalog entry {self.name!r})")
        result = get_reader(self.reader)(target, **{**self.options, **overrides}, info=self.info(root))
        if self.unit_meta and isinstance(result, SpikeTrains):
            result = _attach_unit_meta(result, self, target)
        return result


def _attach_unit_meta(trains: SpikeTrains, entry: CatalogEntry, target: Path) -> SpikeTrains:
    from dataclasses import replace

    import numpy as np

    kind = entry.unit_meta.get("kind")
    if kind == "shimono_slice":
        from spikebridge.io.shimono import read_slice_unit_meta

        extra = read_slice_unit_meta(target.parent, trains.n_units)
    elif kind == "alf_clusters":
        from spikebridge.io.alf import read_alf_clusters

        table = read_alf_clusters(target.parent / entry.unit_meta.get("file", "clusters.npz"))
        ids = np.asarray(table["cluster_id"]).astype(np.int64)
        rows = np.searchsorted(ids, np.arange(trains.n_units))
        if rows.max() >= ids.size or np.any(ids[rows] != np.arange(trains.n_units)):
            raise SpikebridgeDataError(f"{target.parent}: cluster table lacks ids 0..{trains.n_units - 1}")
        keep = ("acronym", "depths", "firing_rate", "label", "x", "y", "z", "channels")
        extra = {k: np.asarray(table[k])[rows] for k in keep if k in table}
    else:
        raise SpikebridgeConfigError(f"catalog entry {entry.name!r}: unknown unit_meta kind {kind!r}")
    return replace(trains, unit_meta={**trains.unit_meta, **extra})


@lru_cache(maxsize=1)
def _raw_catalog() -> tuple[dict, ...]:
    import yaml

    text = resources.files("spikebridge").joinpath("catalog.yaml").read_text()
    return tuple(yaml.safe_load(text)["recordings"])


def load_catalog() -> dict[str, CatalogEntry]:
    """All catalog entries by name, in catalog order."""
    return {d["name"]: CatalogEntry(**d) for d in _raw_catalog()}


def get_entry(name: str) -> CatalogEntry:
    """The entry called ``name``; an unknown name is a one-line error listing the known ones."""
    cat = load_catalog()
    if name not in cat:
        raise SpikebridgeConfigError(f"unknown recording {name!r}; known: {', '.join(cat)}")
    return cat[name]


def open_recording(name_or_path: str | Path, data_root: str | Path | None = None, **options: Any):
    """Read a catalog recording by name, or any supported file or folder by path."""
    text = str(name_or_path)
    cat = load_catalog()
    if text in cat:
        return cat[text].load(data_root, **options)
    path = Path(text)
    if path.exists():
        from spikebridge.io import read_recording

        return read_recording(path, **options)
    if "/" in text or "." in Path(text).name:
        raise SpikebridgeDataError(f"{path}: file not found")
    raise SpikebridgeConfigError(
        f"unknown recording {text!r}: not a catalog name ({', '.join(cat)}) nor a file"
    )


def default_data_roots() -> list[Path]:
    """Candidate ``../shared/data`` folders: beside the working directory, then beside the checkout."""
    here = Path(__file__).resolve()
    return [Path.cwd().parent / "shared" / "data", here.parents[3] / "shared" / "data"]


def resolve_data_root(root: str | Path | None = None, required: bool = True) -> Path | None:
    """The data root: ``root``, else ``$SPIKEBRIDGE_DATA``, else ``../shared/data`` when present."""
    if root is not None:
        path = Path(root)
        if not path.is_dir():
            raise SpikebridgeDataError(f"{path}: data root is not a folder")
        return path
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env)
        if not path.is_dir():
            raise SpikebridgeDataError(f"{path}: ${ENV_VAR} is not a folder")
        return path
    for cand in default_data_roots():
        if cand.is_dir():
            return cand
    if required:
        raise SpikebridgeDataError(f"no data root: pass --data-root or set ${ENV_VAR}")
    return None
