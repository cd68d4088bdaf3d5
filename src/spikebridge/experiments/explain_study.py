"""Explain the shipped models together: the paper's transformer and the bridge model on every evaluated
recording, the across-recording tests of the correlations, and the stationarity of every shipped spike
recording.

Every explanation is cached under ``out_dir / "cache"`` by the checkpoint's content hash, the explained
recording's data hash and the configuration (:func:`explain_key`); the stationarity rows by the
recordings' data hashes and the bin sizes. A second run with the same output folder reads them back and
recomputes nothing.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikebridge.experiments.explain import ExplainConfig, run_explain
from spikebridge.provenance import config_hash, file_hash

EVALUATED = ("slice_210511001", "ibl_NYU-40_2021-04-14_001")
STUDY_MODELS = ("paper-dice", "bridge-bce")  # the paper's architecture and spikebridge's own


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
    """Two-sided t-test across recordings of each correlation's per-recording mean Fisher z (first layer),
    for the first model with attention."""
    from spikebridge.analysis.significance import ACROSS, z_t_test

    with_attention = [r for r in reports if r.attention is not None]
    if not with_attention:
        return ()
    with_attention = [r for r in with_attention if r.label == with_attention[0].label]  # one model
    labels = list(with_attention[0].attention.layers[0].window_z)
    out = []
    for label in labels:
        means = [np.nanmean(r.attention.layers[0].window_z[label]) for r in with_attention]
        out.append(z_t_test(np.array(means), label, ACROSS))
    return tuple(out)


def shipped_stationarity(
    data_root=None,
    bins_ms=None,
    log: Callable[[str], None] = print,
    names: tuple[str, ...] | None = None,
    cache_dir: Path | None = None,
) -> tuple[list, list]:
    """ADF rows of recordings' population activity over their analysed windows, and the group comparison.

    ``names`` defaults to every shipped spike recording present under the data root. With ``cache_dir``
    the result is stored there and read back while the recordings' data and the bin sizes are unchanged.
    """
    from spikebridge.analysis.stationarity import DEFAULT_BINS_MS, adf_population, compare_preparations
    from spikebridge.catalog import load_catalog, resolve_data_root
    from spikebridge.experiments.prepared import get_prepared, recording_key

    if names is None:
        root = resolve_data_root(data_root)
        names = tuple(n for n, e in load_catalog().items() if e.kind == "spikes" and e.present(root))
    bins = tuple(bins_ms or DEFAULT_BINS_MS)
    preps = {name: get_prepared(name, data_root=data_root)[0] for name in names}
    key = config_hash(
        {"bins_ms": bins, "data": [[recording_key(n), p.data_hash()] for n, p in preps.items()]}
    )
    cached = _read_cache(cache_dir, f"adf-{key}") if cache_dir is not None else None
    if cached is not None:
        log(f"  ADF of {len(names)} recordings: stored result reused")
        return cached
    rows = []
    for name, prep in preps.items():
        log(f"  ADF: {name}")
        full = np.concatenate([prep.fit.data, prep.val.data, prep.test.data])  # (T, N) analysed window
        rows += adf_population(full, prep.unit_mask, prep.fit.bin_size, recording_key(name),
                               prep.info.preparation, bins)  # fmt: skip
    out = (rows, compare_preparations(rows))
    if cache_dir is not None:
        _write_cache(cache_dir, f"adf-{key}", out)
    return out


def _read_cache(folder: Path, stem: str):
    """The object pickled as ``folder / f"{stem}.pkl"``, or None when there is none (or it is unreadable)."""
    path = Path(folder) / f"{stem}.pkl"
    if not path.is_file():
        return None
    try:
        return pickle.loads(path.read_bytes())
    except Exception:  # a cache from another package version: recompute
        return None


def _write_cache(folder: Path, stem: str, obj) -> None:
    from spikebridge.atomic import atomic_path

    Path(folder).mkdir(parents=True, exist_ok=True)
    with atomic_path(Path(folder) / f"{stem}.pkl") as tmp:
        tmp.write_bytes(pickle.dumps(obj))


def explain_key(checkpoint: Path, target_hash: str, cfg: ExplainConfig, source: str, target: str) -> str:
    """Cache key of one explanation: checkpoint content, explained data, configuration, recording pair."""
    return config_hash(
        {
            "checkpoint": file_hash(checkpoint, digits=64),
            "data": target_hash,
            "config": cfg.to_dict(),
            "pair": [source, target],
        }
    )


def explain_shipped(
    cfg: ExplainConfig,
    out_dir: Path,
    data_root=None,
    recordings: tuple[str, ...] = EVALUATED,
    profile: str = "quick",
    log: Callable[[str], None] = print,
    models_dir: Path | None = None,
    models: tuple[str, ...] = STUDY_MODELS,
    cross: bool = False,
    executor: str = "local",
    stationarity_of: tuple[str, ...] | None = None,
) -> ShippedExplanation:
    """Fit (or reuse) every model of ``models`` on each recording, explain it there, and test across them.

    ``models`` are canonical names (``paper-dice``, the paper's, and ``bridge-bce``, spikebridge's own, by
    default). Models live in ``models_dir / <recording> / <name>-<profile>-s0`` (default
    ``out_dir / "models"``), the layout of the study's model store: its fitted models are reused. With
    ``cross`` every model is also explained on every other recording (the paper's Fig. 4 analyses the in
    vitro model on in vivo data); the across-recording tests use the within-recording explanations only.
    Explanations run in parallel processes (``executor="local"``, one per core, one torch thread each;
    ``"inline"`` runs them here); only this process writes the store. Stored explanations are reused
    (see the module docstring). The ADF tests cover ``stationarity_of`` (default: every shipped spike
    recording).
    """
    from spikebridge.experiments.executors import Task, run_tasks
    from spikebridge.experiments.explain_store import store_report

    out_dir = Path(out_dir)
    models_dir = Path(models_dir) if models_dir is not None else out_dir / "models"
    common = (cfg, str(out_dir), None if data_root is None else str(data_root), profile, str(models_dir))
    pairs = [(a, a) for a in recordings]
    if cross:
        pairs += [(a, b) for a in recordings for b in recordings if a != b]
    tasks = [Task(f"{m}: {a}->{b}", explain_task, (m, a, b, *common)) for a, b in pairs for m in models]
    log(f"[explain] {len(tasks)} explanations ({executor})")
    done: dict[str, object] = {}
    for task, report in run_tasks(tasks, executor):
        store_report(report, out_dir / "results.sqlite")
        log(f"[explain] {task.key} done")
        done[task.key] = report
    ordered = [done[t.key] for t in tasks]
    rows, comparisons = shipped_stationarity(
        data_root, cfg.adf_bins_ms, log, stationarity_of, out_dir / "cache"
    )
    within = [r for r in ordered if r.source == r.target]
    return ShippedExplanation(tuple(ordered), across_recordings(within), tuple(rows), tuple(comparisons))


def explain_task(
    model: str, source: str, target: str, cfg, out_dir: str, data_root, profile: str, models_dir: str
):
    """Fit (or reuse) ``model`` on ``source`` and explain it on ``target`` (not stored; cached)."""
    from spikebridge.experiments.prepared import get_prepared, recording_key
    from spikebridge.experiments.zoo import ModelSpec, fit_or_reuse, fitted_model_dir

    skey, tkey = recording_key(source), recording_key(target)

    def log(message: str) -> None:
        print(f"[{model} {skey} -> {tkey}] {message.strip()}", flush=True)

    prep, _ = get_prepared(source, data_root=data_root)
    spec = ModelSpec.parse(model, profile=profile)
    model_dir = fitted_model_dir(Path(models_dir).parent, skey, spec)  # the study's store
    fit_or_reuse(spec, prep, model_dir)
    target_hash = (
        prep.data_hash() if target == source else get_prepared(target, data_root=data_root)[0].data_hash()
    )
    key = explain_key(model_dir / "best.ckpt", target_hash, cfg, skey, tkey)
    cache, stem = Path(out_dir) / "cache", f"{skey}__{tkey}__{spec.name}-{key}"
    report = _read_cache(cache, stem)
    if report is not None:
        log("stored explanation reused")
        return report
    report = run_explain(model_dir / "best.ckpt", target, cfg, Path(out_dir), data_root, source, log,
                         Path(models_dir), store=False)  # fmt: skip
    _write_cache(cache, stem, report)
    return report
