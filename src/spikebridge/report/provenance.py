"""The provenance section of a report: software versions, commit, data hashes, configurations, run times."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata

from spikebridge import __version__
from spikebridge.provenance import git_commit
from spikebridge.report.blocks import KeyValues, Section, Table

PACKAGES = (
    "numpy",
    "scipy",
    "torch",
    "lightning",
    "scikit-learn",
    "statsmodels",
    "h5py",
    "matplotlib",
    "plotly",
    "jinja2",
    "pynwb",
    "spikeinterface",
    "ray",
)


def package_versions(names=PACKAGES) -> dict[str, str]:
    """Installed version of each distribution (``not installed`` when absent); imports nothing."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def software_block() -> KeyValues:
    items = [
        ("spikebridge", __version__),
        ("git commit", git_commit() or "unknown (not a git checkout)"),
        ("python", sys.version.split()[0]),
        ("platform", platform.platform()),
        ("CPU cores", str(os.cpu_count())),
        *package_versions().items(),
    ]
    return KeyValues("Software", tuple(items))


def provenance_section(
    data_hashes: dict[str, str],
    configs: dict[str, dict],
    run_seconds: dict[str, float],
    section_id: str = "provenance",
) -> Section:
    """Everything needed to tell whether another run is the same run.

    Parameters
    ----------
    data_hashes : dict of str to str
        Recording -> hash of its prepared rasters (``PreparedRecording.data_hash()``).
    configs : dict of str to dict
        Name -> configuration (shown as JSON).
    run_seconds : dict of str to float
        Stage -> wall-clock seconds on this machine.
    """
    blocks = [
        software_block(),
        Table(
            "Prepared recordings",
            ("recording", "data hash"),
            tuple(sorted(data_hashes.items())),
            notes=(
                "The hash covers the prepared fit, validation and test rasters and the preparation settings.",
            ),
        ),
        Table(
            "Run times",
            ("stage", "minutes"),
            tuple((stage, seconds / 60) for stage, seconds in run_seconds.items()),
            notes=("Wall-clock time on this machine, including any other load it carried.",),
        ),
        KeyValues(
            "Configurations",
            tuple(
                (name, json.dumps(cfg, indent=1, sort_keys=True, default=str))
                for name, cfg in configs.items()
            ),
            code=True,
            collapsed=True,
        ),
    ]
    return Section(section_id, "Provenance", tuple(blocks))
