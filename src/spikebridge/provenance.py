"""Provenance stamped on every checkpoint and result: package version, git commit, time."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from spikebridge import __version__


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the checkout spikebridge runs from, or None outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def stamp() -> dict[str, str | None]:
    """Version, commit and UTC time, for provenance records."""
    return {
        "package_version": __version__,
        "git_commit": git_commit(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def config_hash(config: dict) -> str:
    """A short stable hash of a JSON-serialisable configuration."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def file_hash(path: str | Path, digits: int = 16) -> str:
    """sha256 of a file's bytes (the first ``digits`` hex digits), read in 1 MiB blocks; "" for a
    missing file."""
    path = Path(path)
    if not path.is_file():
        return ""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:digits]


def path_fingerprint(path: str | Path) -> dict[str, list[int]]:
    """Size and modification time (ns) of a file, or of every file under a folder, by relative path.

    A cheap stand-in for a content hash: it tells whether an input may have changed since a result
    was computed from it, without reading it.
    """
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    out = {}
    for f in files:
        st = f.stat()
        out[str(f.relative_to(path)) if f != path else f.name] = [st.st_size, st.st_mtime_ns]
    return out
