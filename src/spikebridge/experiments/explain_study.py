"""Explain the shipped models together: one quick-profile model per evaluated recording, the
across-recording tests of the correlations, and the stationarity of every shipped spike recording.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikebridge.experiments.explain import ExplainConfig, run_explain

EVALUATED = ("slice_210511001", "ibl_NYU-40_2021-04-14_001")


@dataclass(frozen=True)
class ShippedExplanation:
    """Explanations of several recordings' models and what is tested across them."""

    reports: tuple
    across: tuple
    stationarity: tuple
    comparisons: tuple

    def to_dict(self) -> dict:
        return {
            "reports": [r.to_dict() for r in self.reports],
            "across_recordings": [t.to_dict() for t in self.across],
            "stationarity": [r.to_dict() for r in self.stationarity],
            "comparisons": [c.to_dict() for c in self.comparisons],
        }


def across_recordings(reports) -> tuple:
    """Two-sided t-test across recordings of each correlation's per-recording mean Fisher z (first layer)."""
    from spikebridge.analysis.significance import ACROSS, z_t_test

    with_attention = [r for r in reports if r.attention is not None]
    if not with_attention:
        return ()
    labels = list(with_attention[0].attention.layers[0].window_z)
    out = []
    for label in labels:
        means = [np.nanmean(r.attention.layers[0].window_z[label]) for r in with_attention]
        out.append(z_t_test(np.array(means), label, ACROSS))
    return tuple(out)


def shipped_stationarity(
    data_root=None, bins_ms=None, log: Callable[[str], None] = print, names: tuple[str, ...] | None = None
) -> tuple[list, list]:
    """ADF rows of recordings' population activity over their analysed windows, and the group comparison.

    ``names`` defaults to every shipped spike recording present under the data root.
    """
    from spikebridge.analysis.stationarity import DEFAULT_BINS_MS, adf_population, compare_preparations
    from spikebridge.catalog import load_catalog, resolve_data_root
    from spikebridge.experiments.prepared import get_prepared, recording_key

    if names is None:
        root = resolve_data_root(data_root)
        names = tuple(n for n, e in load_catalog().items() if e.kind == "spikes" and e.present(root))
    rows = []
    for name in names:
        log(f"  ADF: {name}")
        prep, _ = get_prepared(name, data_root=data_root)
        full = np.concatenate([prep.fit.data, prep.val.data, prep.test.data])  # (T, N) analysed window
        rows += adf_population(full, prep.unit_mask, prep.fit.bin_size, recording_key(name),
                               prep.info.preparation, tuple(bins_ms or DEFAULT_BINS_MS))  # fmt: skip
    return rows, compare_preparations(rows)


def explain_shipped(
    cfg: ExplainConfig,
    out_dir: Path,
    data_root=None,
    recordings: tuple[str, ...] = EVALUATED,
    profile: str = "quick",
    log: Callable[[str], None] = print,
    models_dir: Path | None = None,
    loss: str = "dice",
    cross: bool = False,
    executor: str = "local",
    stationarity_of: tuple[str, ...] | None = None,
) -> ShippedExplanation:
    """Fit (or reuse) the transformer on each recording, explain it there, and test across them.

    ``loss`` picks the transformer (Dice, the paper's, by default). Models live in
    ``models_dir / <recording> / paper-<loss>-<profile>-s0`` (default ``out_dir / "models"``), the
    layout of ``run_evaluation``: an evaluation's ``models`` folder lends its fitted transformers and GLMs.
    With ``cross`` every model is also explained on every other recording (the paper's Fig. 4 analyses
    the in vitro model on in vivo data); the across-recording tests use the within-recording
    explanations only. Recordings are explained in parallel processes (``executor="local"``, one per
    core, one torch thread each; ``"inline"`` runs them here); only this process writes the store. The
    ADF tests cover ``stationarity_of`` (default: every shipped spike recording).
    """
    from spikebridge.experiments.executors import Task, run_tasks
    from spikebridge.experiments.explain_store import store_report

    out_dir = Path(out_dir)
    models_dir = Path(models_dir) if models_dir is not None else out_dir / "models"
    common = (
        cfg,
        str(out_dir),
        None if data_root is None else str(data_root),
        profile,
        loss,
        str(models_dir),
    )
    phases = [[Task(name, explain_task, (name, name, *common)) for name in recordings]]
    if cross:
        phases.append([Task(f"{a}->{b}", explain_task, (a, b, *common)) for a in recordings for b in recordings
                       if a != b])  # fmt: skip
    done: dict[str, object] = {}
    for tasks in phases:
        log(f"[explain] {', '.join(t.key for t in tasks)} ({executor})")
        for task, report in run_tasks(tasks, executor):
            store_report(report, out_dir / "results.sqlite")
            log(f"[explain] {task.key} done")
            done[task.key] = report
    ordered = [done[t.key] for tasks in phases for t in tasks]
    rows, comparisons = shipped_stationarity(data_root, cfg.adf_bins_ms, log, stationarity_of)
    within = ordered[: len(recordings)]
    return ShippedExplanation(tuple(ordered), across_recordings(within), tuple(rows), tuple(comparisons))


def explain_task(
    source: str, target: str, cfg, out_dir: str, data_root, profile: str, loss: str, models_dir: str
):
    """Fit (or reuse) the ``loss`` transformer on ``source`` and explain it on ``target`` (not stored)."""
    from spikebridge.experiments.prepared import get_prepared, recording_key
    from spikebridge.experiments.zoo import ModelSpec, fit_or_reuse, fitted_model_dir

    def log(message: str) -> None:
        print(f"[{recording_key(source)} -> {recording_key(target)}] {message.strip()}", flush=True)

    prep, _ = get_prepared(source, data_root=data_root)
    spec = ModelSpec("paper", loss, profile=profile)
    model_dir = fitted_model_dir(Path(models_dir).parent, recording_key(source), spec)  # the study's store
    log(f"{spec.name} ({profile}) on {source}: fit or reuse")
    fit_or_reuse(spec, prep, model_dir)
    return run_explain(model_dir / "best.ckpt", target, cfg, Path(out_dir), data_root, source, log,
                       Path(models_dir), store=False)  # fmt: skip
