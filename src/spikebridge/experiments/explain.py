"""Explain one trained model on one recording: what it learned (the seed paper's Fig. 4), checked
against ground truth where the recording has one.

The model (a checkpoint) may have been trained on another recording (cross-recording explanation):
every analysis reads the explained recording's test part, the GLM baseline is fitted on its fit part,
and re-fitted ablation variants are trained on the recording the checkpoint was trained on (its
``model.json`` names it; else ``train_recording``; else the explained recording when its data hash
matches the checkpoint's) and scored on the explained recording.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.analysis.stationarity import DEFAULT_BINS_MS
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.experiments.explain_ablations import AblationSettings
from spikebridge.preprocess.prepare import PrepareConfig, PreparedRecording


@dataclass(frozen=True)
class ExplainConfig:
    """Sizes of the analyses (defaults fit a quick-profile model on 2 CPU cores).

    Attributes
    ----------
    attention_context : int or None
        Window length of the attention analyses (None: ``min(max_context, 256)``).
    attention_windows : int
        Test windows for attention, importance and their correlations.
    influence_context : int or None
        Window length of the influence matrix (None: ``min(max_context, 256)``, the model's usual input).
    influence_windows, max_lag : int
        Number of windows and summed lags of the influence matrix.
    inference_ablations : bool
        Attention switched off at inference and the input shuffles.
    ablations : AblationSettings
        Query bins, shuffle fractions, re-fitted variants (depths, epoch budget), bootstrap.
    glm_baseline : bool
        Fit the coupled GLM and score its coupling weights beside the influence.
    connections : str or None
        Connection file for the explained recording (default: the catalog's, when it ships one).
    transpose_connections : bool
        The connection file stores ``[post, pre]``.
    adf_bins_ms : tuple of float
        Bin sizes of the stationarity tests.
    """

    attention_context: int | None = None
    attention_windows: int = 64
    influence_context: int | None = None
    influence_windows: int = 64
    max_lag: int = 16
    inference_ablations: bool = True
    ablations: AblationSettings = field(default_factory=AblationSettings)
    glm_baseline: bool = True
    connections: str | None = None
    transpose_connections: bool = False
    adf_bins_ms: tuple[float, ...] = DEFAULT_BINS_MS

    def __post_init__(self) -> None:
        for name in ("attention_windows", "influence_windows", "max_lag"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SpikebridgeConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.influence_context is not None and self.max_lag > self.influence_context:
            raise SpikebridgeConfigError(
                f"max_lag ({self.max_lag}) cannot exceed influence_context ({self.influence_context})"
            )
        if self.attention_context is not None and self.attention_context < 2:
            raise SpikebridgeConfigError(f"attention_context must be >= 2 bins, got {self.attention_context}")

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class ExplainReport:
    """Everything one explanation produced (arrays stay in the analysis results; ``to_dict`` is JSON)."""

    label: str
    source: str
    target: str
    checkpoint: str
    n_params: int
    attention: Any
    influence: Any
    glm_scores: tuple
    connections: str
    ablations: tuple
    stationarity: tuple
    config: dict
    provenance: dict
    notes: tuple[str, ...] = ()
    importance: Any = None
    applicability: tuple = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "source": self.source,
            "target": self.target,
            "checkpoint": self.checkpoint,
            "n_params": self.n_params,
            "attention": None if self.attention is None else self.attention.to_dict(),
            "influence": None if self.influence is None else self.influence.to_dict(),
            "glm_scores": [s.to_dict() for s in self.glm_scores],
            "connections": self.connections,
            "ablations": [r.to_dict() for r in self.ablations],
            "stationarity": [r.to_dict() for r in self.stationarity],
            "config": self.config,
            "provenance": self.provenance,
            "notes": list(self.notes),
            "importance": None if self.importance is None else self.importance.to_dict(),
            "applicability": [a.to_dict() for a in self.applicability],
        }


@dataclass(frozen=True)
class Subject:
    """A trained model read on the explained recording.

    Attributes
    ----------
    model : torch.nn.Module
    ckpt : Checkpoint
    target : PreparedRecording
    key : str
        The explained recording's key.
    mask : ndarray ``(N,)`` bool
        Columns real both in the model's training recording and in the target (the others are
        neither read nor scored: a training recording's padding columns never learned anything).
    own : bool
        The target is the model's training recording (same data hash): per-column parameters apply.
    """

    model: Any
    ckpt: Any
    target: PreparedRecording
    key: str
    mask: np.ndarray
    own: bool


def _subject(model, ckpt, checkpoint: Path, target: PreparedRecording, key: str) -> Subject:
    mask = np.asarray(target.unit_mask, dtype=bool)
    meta = checkpoint.parent / "model.json"
    if meta.is_file():
        stored = json.loads(meta.read_text()).get("unit_mask")
        if stored is not None and len(stored) == mask.size:
            mask = mask & np.asarray(stored, dtype=bool)
    own = not ckpt.data_hash or ckpt.data_hash == target.data_hash()
    return Subject(model, ckpt, target, key, mask, own)


def connection_labels(target: str, prep: PreparedRecording, cfg: ExplainConfig, data_root=None):
    """Ground-truth labels ``(N, N)`` ``[pre, post]`` in the model's columns, and where they came from.

    The source is ``cfg.connections`` when given; else a ``synapse_label.mat`` beside the recording (the
    Shimono lab's slice folders ship one; for catalog recordings the catalog's file is used). Returns
    ``(None, "")`` when the recording has no known connections.
    """
    from spikebridge.analysis.influence import align_connections
    from spikebridge.catalog import load_catalog, resolve_data_root
    from spikebridge.io.connections import read_connection_matrix

    path = Path(cfg.connections) if cfg.connections else None
    if path is None:
        entry = load_catalog().get(target)
        root = resolve_data_root(data_root, required=False) if entry is not None else None
        file = entry.file(root) if root is not None else Path(target) if entry is None else None
        if file is not None and file.exists():
            cand = (file if file.is_dir() else file.parent) / "synapse_label.mat"
            path = cand if cand.is_file() else None
    if path is None:
        return None, ""
    matrix = read_connection_matrix(path)
    if matrix.shape[0] != prep.n_source_units:
        raise SpikebridgeDataError(
            f"{path}: {matrix.shape[0]} units, but {target} has {prep.n_source_units} source units"
        )
    return align_connections(matrix, prep.selection.index, cfg.transpose_connections), str(path)


def _checkpoint_label(checkpoint: Path, ckpt) -> tuple[str, str | None]:
    """A readable model label and the recording it was trained on (from ``model.json``), if known."""
    meta = checkpoint.parent / "model.json"
    if meta.is_file():
        payload = json.loads(meta.read_text())
        spec = payload.get("spec") or {}
        label = spec.get("name", ckpt.model_class)
        if spec.get("profile"):
            label = f"{label}-{spec['profile']}"
        return label, payload.get("source")
    return f"{ckpt.model_class}-{ckpt.train_config.get('loss', '')}".strip("-"), None


def _train_source(src_name, target_arg, target_prep, ckpt, prep_cfg, data_root, notes: list):
    """The prepared recording the checkpoint was trained on, or None (with the reason in ``notes``)."""
    from spikebridge.errors import SpikebridgeError
    from spikebridge.experiments.prepared import get_prepared

    if src_name is None or src_name in (target_arg, target_prep.info.name):
        prep, name = target_prep, target_arg
    else:
        try:
            prep, name = get_prepared(src_name, prep_cfg, data_root)[0], src_name
        except SpikebridgeError as exc:
            notes.append(
                f"training recording {src_name!r} cannot be opened ({exc}); re-fitted ablations skipped"
            )
            return None
    if ckpt.data_hash and prep.data_hash() != ckpt.data_hash:
        notes.append(
            f"{name} is not the checkpoint's training data (hash differs); re-fitted ablations skipped"
        )
        return None
    return prep


def run_explain(
    checkpoint: Path,
    recording: str,
    cfg: ExplainConfig,
    out_dir: Path,
    data_root: Path | None = None,
    train_recording: str | None = None,
    log: Callable[[str], None] = print,
    models_dir: Path | None = None,
    progress: bool = False,
    store: bool = True,
) -> ExplainReport:
    """Run every analysis of ``checkpoint`` on ``recording``'s test part and store the numbers.

    Fitted helpers (the GLM, re-fitted variants) are cached under ``models_dir`` (default
    ``out_dir / "models"``; an evaluation's ``models`` folder lends its GLM fits); the result rows go to
    ``out_dir / "results.sqlite"`` (run ``"explain"``) unless ``store`` is False (a worker process leaves
    that to its driver). ``progress`` shows progress bars of predictions.
    """
    from spikebridge.analysis.applicability import applicability
    from spikebridge.analysis.protocol import count_parameters
    from spikebridge.experiments.prepared import get_prepared, recording_key
    from spikebridge.training.checkpoint import load_checkpoint
    from spikebridge.training.predict import load_model

    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    log = _timed(log)
    models_dir = Path(models_dir) if models_dir is not None else out_dir / "models"
    ckpt = load_checkpoint(checkpoint)
    model = load_model(checkpoint)
    label, src_name = _checkpoint_label(checkpoint, ckpt)
    prep_cfg = PrepareConfig(n_units=model.config.n_units)
    target, _ = get_prepared(recording, prep_cfg, data_root)
    tkey = recording_key(recording)
    src_name = train_recording or src_name
    log(f"[explain] {label} ({count_parameters(model)} parameters) on {tkey}")
    subject = _subject(model, ckpt, checkpoint, target, tkey)
    refits = cfg.ablations.retrain and hasattr(model.config, "n_layers")
    table = applicability(model, subject.own, cfg.ablations.retrain)
    sections = _analyse(subject, table, cfg, models_dir, data_root, log)
    source = (
        _train_source(src_name, recording, target, ckpt, prep_cfg, data_root, sections["notes"])
        if refits
        else None
    )
    ablations = _ablations(subject, source, cfg, models_dir, log, progress)
    report = ExplainReport(
        label=label,
        source=recording_key(src_name) if src_name else tkey if subject.own else "unknown",
        target=tkey,
        checkpoint=str(checkpoint),
        n_params=count_parameters(model),
        attention=sections["attention"],
        influence=sections["influence"],
        glm_scores=sections["glm"],
        connections=sections["connections"],
        ablations=tuple(ablations),
        stationarity=tuple(sections["adf"]),
        config={**cfg.to_dict(), "model_config": ckpt.model_config, "train_config": ckpt.train_config},
        provenance=_provenance(ckpt, target),
        notes=tuple(sections["notes"]),
        importance=sections["importance"],
        applicability=table,
    )
    if store:
        from spikebridge.experiments.explain_store import store_report

        store_report(report, out_dir / "results.sqlite")
    return report


def _timed(log: Callable[[str], None]) -> Callable[[str], None]:
    """``log`` with the seconds elapsed since this call appended to every line."""
    import time

    start = time.perf_counter()
    return lambda msg: log(f"{msg} [{time.perf_counter() - start:.0f} s]")


def _provenance(ckpt, target: PreparedRecording) -> dict:
    from spikebridge.provenance import stamp

    return {**stamp(), "checkpoint_git_commit": ckpt.git_commit, "checkpoint_data_hash": ckpt.data_hash,
            "target_data_hash": target.data_hash()}  # fmt: skip


def _analyse(subject: Subject, table, cfg, models_dir: Path, data_root, log) -> dict:
    """Attention, input importance, influence (with the GLM baseline) and stationarity on the target."""
    from spikebridge.analysis.attention import analyse_attention
    from spikebridge.analysis.importance import input_importance
    from spikebridge.analysis.stationarity import adf_population
    from spikebridge.training.losses import get_loss

    applies = {row.analysis: row for row in table}
    model, ckpt, target = subject.model, subject.ckpt, subject.target
    out: dict[str, Any] = {"attention": None, "glm": (), "notes": [], "influence": None, "connections": ""}
    test, mask = target.test.data, subject.mask
    loss = ckpt.train_config.get("loss", "dice")
    loss_fn = get_loss(loss, **ckpt.train_config.get("loss_kwargs", {}))
    if applies["attention maps and lag profile"].applies:
        log("  attention maps, lag profile, gradient and attention-weighted importance")
        out["attention"] = analyse_attention(model, test, mask, loss_fn, loss, cfg.attention_context,
                                             cfg.attention_windows, columns=subject.own)  # fmt: skip
    effects = _spike_effects(subject, cfg, log)
    log("  input-gradient importance of the past bins")
    out["importance"] = input_importance(model, test, mask, loss_fn, loss, cfg.influence_context,
                                         cfg.attention_windows, cfg.max_lag, columns=subject.own,
                                         effects=effects)  # fmt: skip
    if applies["influence vs connections"].applies:
        _influence(subject, cfg, models_dir, data_root, log, out, effects)
    full = np.concatenate([target.fit.data, target.val.data, target.test.data])  # (T, N) analysed window
    out["adf"] = adf_population(
        full, target.unit_mask, target.fit.bin_size, subject.key, target.info.preparation, cfg.adf_bins_ms
    )
    return out


def _spike_effects(subject: Subject, cfg: ExplainConfig, log):
    """For a stateful model, the spike effects its importance and influence share (one pass over the
    same windows instead of two; see :mod:`spikebridge.analysis.perturbation`); else None."""
    import torch

    from spikebridge.analysis.attention import window_starts
    from spikebridge.analysis.perturbation import window_effects
    from spikebridge.analysis.protocol import WindowRunner, is_stateful

    if not is_stateful(subject.model) or cfg.attention_windows != cfg.influence_windows:
        return None
    log("  effect of one added spike of every unit at every recent bin (importance and influence)")
    test, context = subject.target.test.data, cfg.influence_context or cfg.max_lag
    starts = window_starts(test.shape[0], context, cfg.influence_windows)
    runner = WindowRunner(subject.model, test, subject.mask, subject.own)
    was_training = subject.model.training
    subject.model.eval()
    real = torch.from_numpy(np.flatnonzero(subject.mask))
    effects = window_effects(runner, starts, context, real, cfg.max_lag)
    subject.model.train(was_training)
    return effects


def _influence(subject: Subject, cfg, models_dir: Path, data_root, log, out: dict, effects=None) -> None:
    """Influence of every unit on every unit, scored with the coupled GLM against known connections."""
    from spikebridge.analysis.glm_coupling import glm_coupling
    from spikebridge.analysis.influence import connection_auc, influence_matrix
    from spikebridge.experiments.explain_fits import cached_glm

    target, tkey, mask = subject.target, subject.key, subject.mask
    log("  influence of every unit's recent input on every unit's next-bin logit")
    infl = influence_matrix(subject.model, target.test.data, mask, cfg.influence_context, cfg.influence_windows,
                            cfg.max_lag, columns=subject.own, effects=effects)  # fmt: skip
    labels, source = connection_labels(tkey, target, cfg, data_root)
    if labels is not None:
        infl = infl.with_scores(connection_auc(infl.matrix, labels, mask, "model influence"))
        if cfg.glm_baseline:
            log("  coupled GLM baseline (fit or reuse)")
            glm = cached_glm(target, models_dir / tkey)
            out["glm"] = connection_auc(glm_coupling(glm, cfg.max_lag), labels, mask, "GLM coupling")
    else:
        out["notes"].append(f"{tkey} has no known connections: influence is not scored")
    out["influence"], out["connections"] = infl, source


def _ablations(subject: Subject, source, cfg, models_dir: Path, log, progress: bool) -> list:
    from spikebridge.analysis.protocol import has_columns
    from spikebridge.experiments.explain_ablations import (
        inference_ablations,
        make_row,
        part_ablations,
        retrained_ablations,
    )
    from spikebridge.experiments.prepared import recording_key
    from spikebridge.experiments.scoring import score
    from spikebridge.models.spike_transformer import SpikeTransformerConfig
    from spikebridge.training.fit import TrainConfig
    from spikebridge.training.predict import predict_proba

    settings, model, ckpt, target = cfg.ablations, subject.model, subject.ckpt, subject.target
    log("  intact model on the test part")
    predict = _remembered(lambda r: predict_proba(model, r, progress=progress, unit_mask=subject.mask,
                                                  columns=subject.own))  # fmt: skip
    intact = score(predict, target, settings.n_boot, settings.seed, unit_mask=subject.mask)
    rows = [make_row("intact", "intact", "test part", intact)]
    if cfg.inference_ablations:
        log(f"  attention off at inference; recent inputs shuffled at {settings.n_queries} query bins")
        rows += inference_ablations(model, target, intact, settings, progress, subject.mask, subject.own)
        if subject.own and has_columns(model):
            log("  per-column part and per-unit shrinkage off at inference")
            rows += part_ablations(model, target, intact, predict, settings, progress, subject.mask)
    if source is not None:
        mc = SpikeTransformerConfig.from_dict(ckpt.model_config)
        tc = TrainConfig.from_dict(ckpt.train_config)
        root = models_dir / recording_key(source.info.name) / "ablations"
        rows += retrained_ablations(mc, tc, source, target, settings, root, log, progress)
    return rows


def _remembered(predict: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """``predict`` that returns its last output again when called with an equal raster (scoring builds
    a new array per call), so later scores of the same predictions cost no second pass."""
    last: dict[str, np.ndarray] = {}

    def call(raster: np.ndarray) -> np.ndarray:
        seen = last.get("raster")
        if seen is None or seen.shape != raster.shape or not np.array_equal(seen, raster):
            last["raster"], last["probs"] = np.array(raster, copy=True), predict(raster)
        return last["probs"]

    return call


def with_ablations(cfg: ExplainConfig, **changes: Any) -> ExplainConfig:
    """``cfg`` with some :class:`AblationSettings` fields replaced."""
    return replace(cfg, ablations=replace(cfg.ablations, **changes))
