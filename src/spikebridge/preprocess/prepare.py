"""From a recording to the protocol's standardised train / validation / test rasters, and their cache."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.data.types import BinnedSpikes, RecordingInfo, SpikeTrains
from spikebridge.errors import SpikebridgeDataError
from spikebridge.preprocess.binning import bin_spikes
from spikebridge.preprocess.split import SplitPlan, WindowConfig, plan_split, spans_overlap
from spikebridge.preprocess.units import UnitSelection, select_units

FORMAT_VERSION = 1


@dataclass(frozen=True)
class PrepareConfig:
    """Everything that decides a prepared recording: the window, the bin size, the unit rule and the
    options given to the file's reader.

    Attributes
    ----------
    window : WindowConfig
    n_units : int
        Model columns.
    unit_rule : str
        Column selection rule on the train part (see :func:`~spikebridge.preprocess.units.select_units`).
    read : tuple of (str, value) pairs
        Reader options (e.g. ``(("sampling_rate", 30000.0), ("units", "good"))`` for a phy folder),
        sorted by name; part of the cache key, so differently read copies never mix.
    """

    window: WindowConfig = WindowConfig()
    n_units: int = 128
    unit_rule: str = "rate"
    read: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        read = tuple(sorted((str(k), v) for k, v in dict(self.read).items() if v is not None))
        object.__setattr__(self, "read", read)

    def to_dict(self) -> dict:
        out = {"window": self.window.to_dict(), "n_units": self.n_units, "unit_rule": self.unit_rule}
        if self.read:  # absent when empty, so the cache keys of plain configurations do not change
            out["read"] = dict(self.read)
        return out

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class PreparedRecording:
    """Standardised rasters of one recording under the leak-free protocol.

    Attributes
    ----------
    fit, val, test : BinnedSpikes
        (n_bins, n_units) boolean rasters of the three disjoint parts; ``fit`` trains models,
        ``val`` selects them (early stopping, thresholds, calibration), ``test`` only scores.
    selection : UnitSelection
        Column layout computed on the train part (fit + val).
    plan : SplitPlan
        The parts' spans in the recording's clock (seconds).
    config : PrepareConfig
    n_source_units : int
        Units in the source recording.
    n_multi : int
        (bin, unit) cells of the window that held more than one spike before binarisation.
    silent_units : int
        Real columns with no spike in the train part (kept, masked by per-unit metrics).
    """

    fit: BinnedSpikes
    val: BinnedSpikes
    test: BinnedSpikes
    selection: UnitSelection
    plan: SplitPlan
    config: PrepareConfig
    info: RecordingInfo
    n_source_units: int
    n_multi: int
    silent_units: int

    @property
    def unit_mask(self) -> np.ndarray:
        return self.selection.mask

    @property
    def train_rates(self) -> np.ndarray:
        """Per-column spike probability on the train part (fit + val), shape (n_units,)."""
        return self.selection.train_rates

    def data_hash(self) -> str:
        """Hash of the three rasters and the config, recorded with every model and result."""
        h = hashlib.sha256(self.config.digest().encode())
        for part in (self.fit, self.val, self.test):
            h.update(part.content_hash().encode())
        return h.hexdigest()[:16]

    def summary(self) -> dict:
        """Plain numbers for printing and provenance."""
        parts = {k: getattr(self, k) for k in ("fit", "val", "test")}
        return {
            "name": self.info.name,
            "preparation": self.info.preparation,
            "source_units": self.n_source_units,
            "columns": self.selection.n_columns,
            "real_units": int(self.unit_mask.sum()),
            "silent_train_units": self.silent_units,
            "multi_spike_cells": self.n_multi,
            "spans_s": self.plan.to_dict(),
            "window_start_s": self.plan.fit[0],
            "recording_start_s": self.plan.origin,
            "recording_start_rule": self.plan.origin_rule,
            "bins": {k: p.n_bins for k, p in parts.items()},
            "spike_fraction": {k: p.spike_fraction for k, p in parts.items()},
            "data_hash": self.data_hash(),
        }


def prepare(trains: SpikeTrains, config: PrepareConfig | None = None) -> PreparedRecording:
    """Window, bin, split and standardise a recording; every choice is computed on the train part.

    The window starts at the recording's start on its clock, or at its first spike when the file
    gives no start (with a warning naming that time). A part without a spike in the chosen units is
    refused: nothing could be trained, selected or scored on it.
    """
    config = config or PrepareConfig()
    win = config.window
    src = trains.info.source or trains.info.name
    rule = "recording start" if trains.t_start is not None else "first spike"
    if trains.t_start is None:
        warnings.warn(
            f"{src}: the file gives no start time; the window starts at the first spike, {trains.start:g} s",
            stacklevel=2,
        )
    plan = plan_split(trains.duration, win, source=src, start=trains.start, start_rule=rule)
    start, stop = plan.fit[0], plan.test[1]
    binned = bin_spikes(trains, bin_size=win.bin_size, t_start=start, t_stop=stop)
    n_fit = round((plan.fit[1] - plan.fit[0]) / win.bin_size)
    n_train = round((plan.train[1] - plan.train[0]) / win.bin_size)
    selection = select_units(binned.data[:n_train], n_columns=config.n_units, rule=config.unit_rule)
    if trains.n_units < config.n_units:
        warnings.warn(
            f"{src}: {trains.n_units} units; padding to {config.n_units} with masked silent columns",
            stacklevel=2,
        )
    data = selection.apply(binned.data)
    ids = np.full(config.n_units, -1, dtype=np.int64)
    real = selection.index >= 0
    ids[real] = np.asarray(trains.unit_ids)[selection.index[real]].astype(np.int64)
    info = _column_quality(trains, selection)
    full = replace(binned, data=data, unit_mask=selection.mask, unit_ids=ids, info=info)
    parts = [full.slice_bins(a, b) for a, b in ((0, n_fit), (n_fit, n_train), (n_train, full.n_bins))]
    _assert_disjoint(plan, src)
    _assert_spikes(parts, plan, trains, src)
    silent = int(np.count_nonzero(real & (selection.train_rates == 0)))
    return PreparedRecording(
        fit=parts[0],
        val=parts[1],
        test=parts[2],
        selection=selection,
        plan=plan,
        config=config,
        info=info,
        n_source_units=trains.n_units,
        n_multi=binned.n_multi,
        silent_units=silent,
    )


def _column_quality(trains: SpikeTrains, selection: UnitSelection) -> RecordingInfo:
    """The recording's info, with the count of each curation label among the chosen columns when known."""
    labels = trains.unit_meta.get("quality")
    if labels is None:
        return trains.info
    chosen = np.asarray(labels)[selection.index[selection.index >= 0]].astype(str)
    values, counts = np.unique(chosen, return_counts=True)
    return trains.info.with_extra(
        column_quality={str(v): int(c) for v, c in zip(values, counts, strict=True)}
    )


def _assert_spikes(parts: list[BinnedSpikes], plan: SplitPlan, trains: SpikeTrains, src: str) -> None:
    """Refuse a train, validation or test part without a spike in the chosen units."""
    for label, part, span in zip(
        ("train", "validation", "test"), parts, (plan.fit, plan.val, plan.test), strict=True
    ):
        if not part.data[:, part.unit_mask].any():
            firsts = [t[0] for t in trains.times if t.size]
            lasts = [t[-1] for t in trains.times if t.size]
            where = (
                f"spikes lie in [{min(firsts):g}, {max(lasts):g}] s" if firsts else "the file holds no spike"
            )
            raise SpikebridgeDataError(
                f"{src}: the {label} part [{span[0]:g}, {span[1]:g}) s holds no spike ({where}); "
                "move the window with --skip / --length"
            )


def _assert_disjoint(plan: SplitPlan, src: str) -> None:
    spans = [plan.fit, plan.val, plan.test]
    for i in range(3):
        for j in range(i + 1, 3):
            if spans_overlap(spans[i], spans[j]):
                raise SpikebridgeDataError(f"{src}: split parts overlap ({spans[i]} and {spans[j]})")


def save_prepared(prep: PreparedRecording, path: str | Path) -> Path:
    """Write a prepared recording to a compressed ``.npz`` file, atomically."""
    from spikebridge.atomic import atomic_path

    path = Path(path)
    meta = {
        "format_version": FORMAT_VERSION,
        "config": prep.config.to_dict(),
        "plan": prep.plan.to_dict(),
        "info": prep.info.to_dict(),
        "rule": prep.selection.rule,
        "n_source_units": prep.n_source_units,
        "n_multi": prep.n_multi,
        "silent_units": prep.silent_units,
        "bin_size": prep.fit.bin_size,
    }
    arrays = {f"{k}_bits": np.packbits(getattr(prep, k).data, axis=0) for k in ("fit", "val", "test")}
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                meta=np.array(json.dumps(meta)),
                shapes=np.array([getattr(prep, k).data.shape for k in ("fit", "val", "test")]),
                index=prep.selection.index,
                train_rates=prep.selection.train_rates,
                unit_ids=prep.fit.unit_ids,
                **arrays,
            )
    return path


def load_prepared(path: str | Path) -> PreparedRecording:
    """Read a file written by :func:`save_prepared`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            shapes = z["shapes"]
            bits = {k: z[f"{k}_bits"] for k in ("fit", "val", "test")}
            index, rates, ids = z["index"], z["train_rates"], z["unit_ids"]
    except FileNotFoundError as exc:
        raise SpikebridgeDataError(f"{path}: file not found") from exc
    except Exception as exc:
        raise SpikebridgeDataError(
            f"{path}: not a prepared-recording file ({exc.__class__.__name__})"
        ) from exc
    if meta.get("format_version") != FORMAT_VERSION:
        raise SpikebridgeDataError(
            f"{path}: prepared-file format {meta.get('format_version')} is not supported"
        )
    cfg = meta["config"]
    config = PrepareConfig(
        window=WindowConfig(**cfg["window"]),
        n_units=cfg["n_units"],
        unit_rule=cfg["unit_rule"],
        read=tuple(cfg.get("read", {}).items()),
    )
    plan = SplitPlan.from_dict(meta["plan"])
    info = RecordingInfo(**meta["info"])
    selection = UnitSelection(index=index, mask=index >= 0, rule=meta["rule"], train_rates=rates)
    parts = {}
    for k, shape, start in zip(
        ("fit", "val", "test"), shapes, (plan.fit[0], plan.val[0], plan.test[0]), strict=True
    ):
        data = np.unpackbits(bits[k], axis=0, count=int(shape[0])).astype(bool)
        parts[k] = BinnedSpikes(
            data=data, bin_size=meta["bin_size"], t_start=start, info=info, unit_mask=index >= 0, unit_ids=ids
        )
    return PreparedRecording(
        **parts,
        selection=selection,
        plan=plan,
        config=config,
        info=info,
        n_source_units=meta["n_source_units"],
        n_multi=meta["n_multi"],
        silent_units=meta["silent_units"],
    )
