"""Prepared recordings on disk: prepare once per (recording, config), reuse everywhere."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from spikebridge.catalog import load_catalog, open_recording
from spikebridge.data.types import SpikeTrains
from spikebridge.errors import SpikebridgeDataError
from spikebridge.preprocess.prepare import (
    PrepareConfig,
    PreparedRecording,
    load_prepared,
    prepare,
    save_prepared,
)

CACHE_ENV = "SPIKEBRIDGE_CACHE"


def default_cache_dir() -> Path:
    """``$SPIKEBRIDGE_CACHE``, else ``spikebridge-out/cache`` in the working directory."""
    return Path(os.environ.get(CACHE_ENV, "spikebridge-out/cache"))


def recording_key(name_or_path: str) -> str:
    """A file-name-safe key: the catalog name, or the file's stem."""
    if name_or_path in load_catalog():
        return name_or_path
    return Path(name_or_path).stem.replace(" ", "_") or "recording"


def source_fingerprint(name_or_path: str) -> str:
    """A short hash of a recording file or folder's resolved path, size and modification time ("" for
    catalog names), so that two files with the same name, or a file rewritten in place, never share a
    cached preparation."""
    if name_or_path in load_catalog():
        return ""
    path = Path(name_or_path)
    if not path.exists():
        return ""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256(str(path.resolve()).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:8]


def cache_path(name_or_path: str, config: PrepareConfig, cache_dir: Path | None = None) -> Path:
    """``CACHE/KEY-CONFIGDIGEST[-SOURCE].npz`` (the source fingerprint for files and folders given by path)."""
    source = source_fingerprint(name_or_path)
    stem = f"{recording_key(name_or_path)}-{config.digest()}" + (f"-{source}" if source else "")
    return (cache_dir or default_cache_dir()) / f"{stem}.npz"


def get_prepared(
    name_or_path: str,
    config: PrepareConfig | None = None,
    data_root: str | Path | None = None,
    cache_dir: Path | None = None,
    refresh: bool = False,
    recording: SpikeTrains | None = None,
) -> tuple[PreparedRecording, Path]:
    """Load the prepared recording from the cache, or prepare and cache it.

    ``recording`` is the already-read recording, when the caller has it (saves reading it again).
    """
    config = config or PrepareConfig()
    path = cache_path(name_or_path, config, cache_dir)
    if path.is_file() and not refresh:
        return load_prepared(path), path
    rec = recording if recording is not None else open_recording(name_or_path, data_root, **dict(config.read))
    if not isinstance(rec, SpikeTrains):
        raise SpikebridgeDataError(f"{name_or_path}: holds calcium traces, not spikes; it cannot be binned")
    prep = prepare(rec, config)
    save_prepared(prep, path)
    return prep, path
