"""The observations of the QuantFormer study, for every kind of source, split leak-free.

A source is one of:

- ``calcium-sim`` or ``calcium-sim:SEED``: the calcium simulator (stimulus observations);
- a catalog calcium recording (e.g. ``suite2p_calcium``) or a suite2p / NWB-ophys path: sliding windows;
- an Allen Visual Coding ``.nwb`` file: stimulus observations (``allen:PATH`` forces the Allen reader);
- a catalog spike recording or a spike file / folder: sliding windows over binned spike counts of
  the most active units (chosen on the train span, as in the spike protocol).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.catalog import load_catalog, open_recording, resolve_data_root
from spikebridge.data.calcium import CalciumRecording
from spikebridge.data.types import SpikeTrains, Traces
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.preprocess.calcium import (
    ObservationConfig,
    Observations,
    bin_counts,
    count_observations,
    sliding_observations,
    sliding_onsets,
    stimulus_observations,
)
from spikebridge.preprocess.obs_split import ObservationSplit, ObsSplitConfig, split_observations, time_cut
from spikebridge.preprocess.split import WindowConfig, plan_split
from spikebridge.preprocess.units import select_units

SIM_PREFIX = "calcium-sim"


@dataclass(frozen=True)
class SourceConfig:
    """How sources become observations.

    Attributes
    ----------
    obs : ObservationConfig
        Window lengths (96 + 64 by default) and the activity rule.
    split : ObsSplitConfig
        Test and validation fractions.
    calcium_stride : int
        Step between sliding windows of calcium recordings without stimuli (frames).
    frame_rate : float or None
        Frames per second of calcium files that do not store it; None: the catalog's or the file's.
        The shipped suite2p session stores none; the catalog assumes 30 Hz, the usual resonant-scanner
        rate and the rate of the paper's data, so the 96 + 64 frames are 3.2 s + 2.1 s.
    cells_only : bool
        Keep only ROIs classified as cells (suite2p ``iscell``).
    spike_bin_s : float
        Bin width of spike counts (50 ms: 96 + 64 bins are 4.8 s + 3.2 s).
    spike_stride : int
        Step between sliding windows of spike counts (bins).
    spike_units : int
        Most active units kept (chosen on the train span).
    spike_window : WindowConfig
        The spike protocol's analysed window (7.5 min from the start, or the whole shorter recording).
    """

    obs: ObservationConfig = field(default_factory=ObservationConfig)
    split: ObsSplitConfig = field(default_factory=ObsSplitConfig)
    calcium_stride: int = 8
    frame_rate: float | None = None
    cells_only: bool = True
    spike_bin_s: float = 0.05
    spike_stride: int = 16
    spike_units: int = 128
    spike_window: WindowConfig = field(default_factory=WindowConfig)

    def __post_init__(self) -> None:
        for name in ("calcium_stride", "spike_stride", "spike_units"):
            if getattr(self, name) < 1:
                raise SpikebridgeConfigError(f"SourceConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.spike_bin_s > 0 or (self.frame_rate is not None and not self.frame_rate > 0):
            raise SpikebridgeConfigError("SourceConfig needs spike_bin_s > 0 and frame_rate > 0 (or None)")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["spike_window"] = self.spike_window.to_dict()
        return out


@dataclass(frozen=True)
class SourceData:
    """The split observations of one source and a description of where they came from."""

    name: str
    modality: str
    split: ObservationSplit
    meta: dict[str, Any]

    def data_hash(self) -> str:
        return self.split.data_hash()


def _sim_seed(name: str) -> int:
    _, _, seed = name.partition(":")
    try:
        return int(seed) if seed else 0
    except ValueError as exc:
        raise SpikebridgeConfigError(
            f"{name!r}: the simulator's seed must be an integer (calcium-sim:SEED)"
        ) from exc


def _simulated(name: str, cfg: SourceConfig) -> tuple[Observations, dict]:
    from spikebridge.simulation_calcium import simulate_calcium

    sim = simulate_calcium(seed=_sim_seed(name))
    obs = stimulus_observations(sim.recording.traces, sim.recording.stimuli, cfg.obs)
    pairs = sim.responsive[
        obs.neuron, [sim.labels.index(lab) for lab in np.asarray(obs.stimulus_labels)[obs.stimulus]]
    ]
    meta = {"source": "simulation", **sim.to_dict(), "responsive_fraction": float(pairs.mean())}
    return obs, meta


def _calcium(rec: Traces | CalciumRecording, cfg: SourceConfig) -> tuple[Observations, dict]:
    stimuli = rec.stimuli if isinstance(rec, CalciumRecording) else None
    traces = rec.traces if isinstance(rec, CalciumRecording) else rec
    n_rois = traces.n_rois
    if cfg.cells_only and not traces.is_cell.all():
        keep = traces.is_cell
        traces = Traces(traces.values[:, keep], traces.frame_rate, traces.info, traces.roi_ids[keep],
                        traces.is_cell[keep], traces.kind)  # fmt: skip
    meta = {"source": traces.info.source, "rois": n_rois, "neurons": traces.n_rois, "frames": traces.n_frames,
            "frame_rate": traces.frame_rate, "signal": traces.kind, "stimuli": stimuli.to_dict() if stimuli else None}  # fmt: skip
    if stimuli is not None:
        return stimulus_observations(traces, stimuli, cfg.obs), meta
    obs_cfg = ObservationConfig(**{**cfg.obs.to_dict(), "stride": cfg.calcium_stride})
    return sliding_observations(traces, obs_cfg), meta


def _spikes(trains: SpikeTrains, cfg: SourceConfig) -> tuple[Observations, dict]:
    """Counts over the protocol's window; the most active units of the frames before any test window."""
    src = trains.info.source or trains.info.name
    plan = plan_split(trains.duration, cfg.spike_window, source=src)
    start, stop = plan.fit[0], plan.test[1]
    counts = bin_counts(trains.times, start, stop, cfg.spike_bin_s)  # (n_bins, n_units)
    obs_cfg = ObservationConfig(**{**cfg.obs.to_dict(), "stride": cfg.spike_stride})
    onsets = sliding_onsets(counts.shape[0], obs_cfg)
    if onsets.size < 3:
        raise SpikebridgeDataError(
            f"{src}: {counts.shape[0]} bins hold fewer than three windows of {obs_cfg.length}"
        )
    first_test_frame = time_cut(onsets, cfg.split.test_fraction) - obs_cfg.baseline_len
    chosen = select_units(
        counts[:first_test_frame], n_columns=min(cfg.spike_units, trains.n_units), rule="rate"
    )
    counts = counts[:, chosen.index]
    obs = count_observations(counts, cfg.spike_bin_s, np.asarray(trains.unit_ids)[chosen.index], obs_cfg, src)
    meta = {"source": src, "units": trains.n_units, "neurons": int(chosen.index.size), "span_s": [start, stop],
            "bin_s": cfg.spike_bin_s, "mean_count_per_bin": float(counts[:first_test_frame].mean()),
            "units_chosen_on_bins": int(first_test_frame)}  # fmt: skip
    return obs, meta


def _read(name: str, root: Path | None, cfg: SourceConfig):
    """The recording behind ``name`` (catalog entry, Allen file or any supported path)."""
    if name.startswith("allen:") or (name.endswith(".nwb") and _looks_allen(Path(name))):
        from spikebridge.io.allen import read_allen_ophys

        return read_allen_ophys(name.removeprefix("allen:"), frame_rate=cfg.frame_rate)
    options: dict[str, Any] = {}
    entry = load_catalog().get(name)
    is_calcium = entry is not None and entry.kind == "calcium"
    if cfg.frame_rate is not None and (is_calcium or Path(name).is_dir()):
        options["frame_rate"] = cfg.frame_rate
    if entry is None and name.endswith(".nwb"):
        from spikebridge.io import read_recording

        return read_recording(name, fmt="nwb_ophys", **options)
    return open_recording(name, root, **options)


def _looks_allen(path: Path) -> bool:
    import h5py

    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return "processing/brain_observatory_pipeline" in f or "stimulus/presentation" in f
    except OSError:
        return False


def load_source(
    name: str, cfg: SourceConfig | None = None, data_root: str | Path | None = None
) -> SourceData:
    """Observations of ``name`` split into train / validation / test (see the module docstring)."""
    cfg = cfg or SourceConfig()
    if name == SIM_PREFIX or name.startswith(SIM_PREFIX + ":"):
        obs, meta = _simulated(name, cfg)
        modality = "calcium"
    else:
        root = resolve_data_root(data_root, required=False)
        rec = _read(name, root, cfg)
        if isinstance(rec, SpikeTrains):
            obs, meta, modality = *_spikes(rec, cfg), "spikes"
        elif isinstance(rec, Traces | CalciumRecording):
            obs, meta, modality = *_calcium(rec, cfg), "calcium"
        else:
            raise SpikebridgeDataError(f"{name}: not a recording QuantFormer can use ({type(rec).__name__})")
    split = split_observations(obs, cfg.split)
    return SourceData(name, modality, split, {**meta, "observations": split.summary()})
