"""The QuantFormer study: for every source, pre-train, tune the forecaster (and the classifier when
the source has stimuli), fit the baselines on the same windows, score everything on the test part.

Resumable: every stage (pre-training, forecaster, classifier, LSTM, scoring) is a cell of the
results store keyed by the source, a digest of the configuration and the hash of the split
observations; a finished cell is reused (its checkpoint is reloaded) instead of recomputed, so a
killed run resumes where it stopped and a finished study is read back in seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.experiments.quantformer_data import SourceConfig, SourceData, load_source
from spikebridge.experiments.quantformer_eval import (
    MODEL,
    compare,
    rows,
    score_classifiers,
    score_forecasts,
    verdict_lines,
)
from spikebridge.experiments.store import ResultsStore
from spikebridge.provenance import config_hash

RUN = "quantformer"
DEFAULT_SOURCES = ("calcium-sim", "suite2p_calcium", "slice_210511001", "ibl_NYU-40_2021-04-14_001")
PROFILES = ("tiny", "quick", "paper")
USAGE_SAMPLES = 10000  # train windows (evenly spaced) on which codebook usage is counted


@dataclass(frozen=True)
class QuantFormerStudyConfig:
    """What the study runs.

    Attributes
    ----------
    sources : tuple of str
        Sources (see :mod:`spikebridge.experiments.quantformer_data`).
    profile : {"tiny", "quick", "paper"}
        Model size and training budget (``quick`` fits a CPU; ``paper`` is the paper's setting).
    data : SourceConfig
    seed, n_boot : int
    classify : bool or None
        Run the response classification; None: for sources with stimuli only.
    mode : {"fine", "prompt"}
    max_epochs : int or None
        Cap on every stage's epochs (None: the profile's).
    threads : int
        Torch threads (1 is fastest on a shared 2-core machine; small models gain little from more).
    accelerator : {"cpu", "gpu", "auto"}
    """

    sources: tuple[str, ...] = DEFAULT_SOURCES
    profile: str = "quick"
    data: SourceConfig = field(default_factory=SourceConfig)
    seed: int = 0
    n_boot: int = 1000
    classify: bool | None = None
    mode: str = "fine"
    max_epochs: int | None = None
    threads: int = 1
    accelerator: str = "cpu"

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise SpikebridgeConfigError(f"profile must be one of {PROFILES}, got {self.profile!r}")
        if not self.sources:
            raise SpikebridgeConfigError("the study needs at least one source")
        if self.threads < 1 or self.n_boot < 0:
            raise SpikebridgeConfigError(
                f"need threads >= 1 and n_boot >= 0, got {self.threads}, {self.n_boot}"
            )
        self.train_config()  # validates mode, accelerator and the epoch cap

    def model_config(self, data: SourceData):
        from spikebridge.models.quantformer import QuantFormerConfig

        train = data.split.train
        return QuantFormerConfig.profile(
            self.profile, baseline_len=train.baseline_len, response_len=train.response_len
        )

    def train_config(self):
        from spikebridge.training.quantformer import QFTrainConfig

        cap = (
            {}
            if self.max_epochs is None
            else {"pretrain_epochs": self.max_epochs, "finetune_epochs": self.max_epochs}
        )
        return QFTrainConfig.profile(
            self.profile, seed=self.seed, mode=self.mode, accelerator=self.accelerator, **cap
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["data"] = self.data.to_dict()
        out["sources"] = list(self.sources)
        return out

    def digest(self) -> str:
        """Hash of what decides the fits: the resolved training and model settings, the data options and
        the package's major.minor version (not the source list, the threads nor the bootstrap size,
        which only the score cell, named by it, depends on)."""
        from spikebridge import __version__
        from spikebridge.models.quantformer import QuantFormerConfig

        keep = {k: v for k, v in self.to_dict().items() if k not in ("sources", "n_boot", "threads")}
        keep["package"] = ".".join(__version__.split(".")[:2])
        keep["resolved"] = {
            "train": self.train_config().to_dict(),
            "model": QuantFormerConfig.profile(self.profile).to_dict(),
        }
        return config_hash(keep)


@dataclass(frozen=True)
class SourceResult:
    """Everything the study measured on one source (plain JSON-able values)."""

    name: str
    modality: str
    data_hash: str
    meta: dict[str, Any]
    forecast: dict[str, dict[str, dict]]
    classify: dict[str, dict[str, dict]]
    tests: list[dict[str, Any]]
    verdicts: list[str]
    codebook: dict[str, Any]
    stages: dict[str, dict[str, Any]]
    examples: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceResult:
        return cls(**data)


@dataclass(frozen=True)
class QuantFormerStudyResult:
    """Results of every source, the configuration, and where the files are."""

    results: tuple[SourceResult, ...]
    config: dict[str, Any]
    out_dir: str
    store: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "out_dir": self.out_dir, "store": self.store, "seconds": self.seconds,
                "results": [r.to_dict() for r in self.results]}  # fmt: skip


def source_key(name: str) -> str:
    """A folder-safe key of a source name or path."""
    text = Path(name.removeprefix("allen:")).stem if ("/" in name or name.endswith(".nwb")) else name
    return text.replace(":", "-").replace(" ", "_") or "source"


class _Cells:
    """Stage cells of one source in the store, with their working folder."""

    def __init__(self, store: ResultsStore, key: str, folder: Path, recompute: bool) -> None:
        self.store, self.key, self.folder, self.recompute = store, key, folder, recompute

    def cell(self, stage: str) -> str:
        return f"{self.key}/{stage}"

    def done(self, stage: str) -> dict | None:
        if self.recompute or self.cell(stage) not in self.store.finished_cells(RUN):
            return None
        payload = self.store.cell_payload(RUN, self.cell(stage))
        ckpt = payload.get("checkpoint") if payload else None
        return payload if payload is not None and (ckpt is None or Path(ckpt).is_file()) else None

    def finish(self, stage: str, payload: dict, rows=(), seconds: float = 0.0) -> None:
        self.store.write_cell(RUN, self.cell(stage), rows, payload=payload, seconds=seconds)


def _stage(cells: _Cells, stage: str, fit: Callable[[], tuple[Any, Any]], log: Callable[[str], None]):
    """Reload a finished stage's model, or fit it and record the cell."""
    from spikebridge.training.quantformer_fit import load_stage

    payload = cells.done(stage)
    source = cells.key.split("/")[0]
    if payload is not None:
        log(f"    {source} {stage}: reusing {payload['checkpoint']}")
        return load_stage(payload["checkpoint"])[0], payload
    log(f"    {source} {stage}: training")
    model, result = fit()
    cells.finish(stage, result.to_dict(), seconds=result.seconds)
    return model, result.to_dict()


STAGES = ("pretrain", "forecast", "lstm", "classify")


def _fit_models(
    data: SourceData, cfg: QuantFormerStudyConfig, cells: _Cells, stages: tuple[str, ...], log, progress
):
    """Fit (or reload) the pre-trained backbone and the requested downstream stages."""
    from spikebridge.training import quantformer_fit as qf

    tr, va, folder, h = data.split.train, data.split.val, cells.folder, data.data_hash()
    tcfg, mcfg = cfg.train_config(), cfg.model_config(data)
    backbone, pre = _stage(
        cells, "pretrain", lambda: qf.pretrain(tr, va, mcfg, tcfg, folder, h, progress), log
    )
    models = {"backbone": backbone, "stages": {"pretrain": pre}}
    fits = {"forecast": lambda: qf.fit_forecaster(backbone, tr, va, tcfg, folder, h, progress),
            "lstm": lambda: qf.fit_lstm(tr, va, tcfg, folder, h, progress),
            "classify": lambda: qf.fit_classifier(backbone, tr, va, tcfg, folder, h, progress)}  # fmt: skip
    for stage in (s for s in STAGES[1:] if s in stages):
        models[stage], models["stages"][stage] = _stage(cells, stage, fits[stage], log)
    return models


def _wants_classification(data: SourceData, cfg: QuantFormerStudyConfig) -> bool:
    parts = (data.split.train, data.split.val, data.split.test)
    two_classes = all(p.active.any() and not p.active.all() for p in parts)
    if cfg.classify is None:
        return two_classes and data.split.train.n_stimuli > 1
    return bool(cfg.classify) and two_classes


def _predictions(data: SourceData, models: dict, do_classify: bool) -> tuple[dict, dict, tuple]:
    """Forecasts and labels of every model on the test part, and QuantFormer's (predicted, target) codes."""
    from spikebridge.baselines.traces import CLASSIFIERS, FORECASTERS
    from spikebridge.training.quantformer_fit import (
        predict_active_proba,
        predict_forecast_codes,
        predict_lstm,
    )

    tr, va, te = data.split.train, data.split.val, data.split.test
    forecast, *codes = predict_forecast_codes(models["forecast"], te)
    forecasts = {MODEL: forecast}
    forecasts.update({name: cls().fit(tr, va).predict(te) for name, cls in FORECASTERS.items()})
    forecasts["lstm"] = predict_lstm(models["lstm"], te)
    labels = {}
    if do_classify:
        clf = models["classify"]
        labels[MODEL] = predict_active_proba(clf, te) >= clf.threshold
        labels.update({name: cls().fit(tr, va).predict(te) for name, cls in CLASSIFIERS.items()})
    return forecasts, labels, tuple(codes)


def _codebook(data: SourceData, models: dict, codes: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """Codebook usage on train and test windows; accuracy of the predicted test codes ``codes`` (pred, target)."""
    from spikebridge.evaluation.forecasting import codebook_usage
    from spikebridge.training.quantformer import evenly_spaced
    from spikebridge.training.quantformer_fit import window_codes

    k = models["backbone"].cfg.codebook_size
    train = data.split.train.select(evenly_spaced(data.split.train.n, USAGE_SAMPLES))
    train_use = codebook_usage(window_codes(models["backbone"], train), k)
    test_use = codebook_usage(window_codes(models["backbone"], data.split.test), k)
    pred, target = codes
    return {"codebook_size": k, "train": train_use.to_dict(), "test": test_use.to_dict(),
            "code_accuracy": float(np.mean(pred == target)),
            "code_accuracy_majority": float(np.mean(target == np.bincount(target.ravel(), minlength=k).argmax()))}  # fmt: skip


def _examples(data: SourceData, forecasts: dict[str, np.ndarray], path: Path, k: int = 6) -> str:
    """Save a few test windows and every model's forecast for figures: the most active ones and evenly spaced ones."""
    from spikebridge.atomic import atomic_path

    te = data.split.test
    top = np.argsort(-(te.response.mean(axis=1) - te.baseline.mean(axis=1)))[: k // 2]
    spread = np.linspace(0, te.n - 1, k - top.size).round().astype(int)
    idx = np.unique(np.concatenate([top, spread]))
    labels = np.asarray(te.stimulus_labels)[te.stimulus[idx]]
    arrays = {f"forecast__{m}": f[idx] for m, f in forecasts.items()}
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, baseline=te.baseline[idx], response=te.response[idx], neuron=te.neuron_ids[te.neuron[idx]],
                            stimulus=labels, frame_rate=te.frame_rate, unit=te.unit, **arrays)  # fmt: skip
    return str(path)


def _extras(codebook: dict[str, Any]) -> dict[str, float]:
    return {"codebook/perplexity_test": codebook["test"]["perplexity"],
            "codebook/dead_codes_test": codebook["test"]["dead_codes"],
            "codebook/perplexity_train": codebook["train"]["perplexity"],
            "codebook/dead_codes_train": codebook["train"]["dead_codes"],
            "forecast/code_accuracy": codebook["code_accuracy"]}  # fmt: skip


def _as_dicts(table: dict) -> dict[str, dict[str, dict]]:
    return {m: {k: s.to_dict() for k, s in metrics.items()} for m, metrics in table.items()}


def _open(
    name: str, cfg: QuantFormerStudyConfig, out_dir: Path, store: ResultsStore, data_root, recompute: bool
):
    data = load_source(name, cfg.data, data_root)
    key = f"{source_key(name)}/{cfg.digest()}/{data.data_hash()}"
    folder = Path(out_dir).resolve() / "quantformer" / key.replace("/", "__")
    return data, _Cells(store, key, folder, recompute)


def fit_source(name: str, cfg: QuantFormerStudyConfig, out_dir: Path, stages: tuple[str, ...] = ("pretrain",),
               data_root=None, recompute: bool = False, log: Callable[[str], None] = print,
               progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """Fit (or reuse) only some stages of one source; returns their payloads (checkpoint, history, ...)."""
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise SpikebridgeConfigError(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    store = ResultsStore(Path(out_dir) / "results.sqlite")
    data, cells = _open(name, cfg, out_dir, store, data_root, recompute)
    log(f"  {name}: {data.split.train.n} train, {data.split.val.n} validation windows")
    return _fit_models(data, cfg, cells, tuple(stages), log, progress)["stages"]


def run_source(name: str, cfg: QuantFormerStudyConfig, out_dir: Path, store: ResultsStore, data_root=None,
               recompute: bool = False, log: Callable[[str], None] = print, progress: bool = False) -> SourceResult:  # fmt: skip
    """Fit (or reuse) every model on one source and score it; record rows and the result in the store."""
    return _run_source(name, cfg, out_dir, store, data_root, recompute, log, progress)[0]


def _run_source(name: str, cfg: QuantFormerStudyConfig, out_dir: Path, store: ResultsStore, data_root,
                recompute: bool, log: Callable[[str], None], progress: bool) -> tuple[SourceResult, bool]:  # fmt: skip
    """:func:`run_source`, and whether the result was read back from the store (nothing computed)."""
    start = time.perf_counter()
    data, cells = _open(name, cfg, out_dir, store, data_root, recompute)
    score_cell = f"score-boot{cfg.n_boot}"
    done = cells.done(score_cell)
    if done is not None:
        log(f"  {name}: finished earlier; reading the stored result")
        return SourceResult.from_dict(done), True
    log(
        f"  {name}: {data.split.train.n} train, {data.split.val.n} validation, {data.split.test.n} test windows"
    )
    do_classify = _wants_classification(data, cfg)
    models = _fit_models(data, cfg, cells, STAGES if do_classify else STAGES[:-1], log, progress)
    forecasts, labels, codes = _predictions(data, models, do_classify)
    te = data.split.test
    forecast, per_neuron = score_forecasts(forecasts, te, cfg.n_boot, cfg.seed)
    classify = score_classifiers(labels, te, cfg.n_boot, cfg.seed) if labels else {}
    tests = compare(per_neuron)
    codebook = _codebook(data, models, codes)
    result = SourceResult(
        name=name, modality=data.modality, data_hash=data.data_hash(), meta=data.meta, forecast=_as_dicts(forecast),
        classify=_as_dicts(classify), tests=tests, verdicts=verdict_lines(tests), codebook=codebook,
        stages=models["stages"], examples=_examples(data, forecasts, cells.folder / "examples.npz"),
        seconds=time.perf_counter() - start,
    )  # fmt: skip
    config = {**cfg.to_dict(), "source": name, "model": cfg.model_config(data).to_dict()}
    cells.finish(score_cell, result.to_dict(), rows(name, forecast, classify, _extras(codebook), config, data.data_hash()),
                 seconds=result.seconds)  # fmt: skip
    return result, False


def _source_task(name: str, cfg: QuantFormerStudyConfig, out_dir: str, data_root, recompute: bool,
                 progress: bool, then: Callable[[SourceResult], Any] | None) -> tuple[SourceResult, bool]:  # fmt: skip
    """One source's work in an executor process (or inline): its own store connection, ``cfg.threads``
    torch threads (so a result never depends on the executor), progress lines printed, then ``then``
    on the result. Returns the result and whether it was read back from the store."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        store = ResultsStore(Path(out_dir) / "results.sqlite")
        result, stored = _run_source(name, cfg, Path(out_dir), store, data_root, recompute, print, progress)
    finally:
        torch.set_num_threads(threads)
    if then is not None:
        then(result)
    return result, stored


def run_quantformer_study(
    out_dir: str | Path,
    data_root: str | Path | None = None,
    profile: str = "quick",
    sources: tuple[str, ...] | None = None,
    config: QuantFormerStudyConfig | None = None,
    recompute: bool = False,
    log: Callable[[str], None] = print,
    progress: bool = False,
    executor: str = "inline",
    workers: int | None = None,
    address: str | None = None,
    then: Callable[[SourceResult], Any] | None = None,
) -> QuantFormerStudyResult:
    """Run (or resume) the QuantFormer study; rows go to ``out_dir/results.sqlite`` (run "quantformer").

    Parameters
    ----------
    out_dir : path
        Receives the results store, checkpoints, example forecasts and ``quantformer.json``.
    data_root : path, optional
        Folder of the shipped recordings (default: the usual data-root resolution).
    profile : {"tiny", "quick", "paper"}
        Used when ``config`` is None.
    sources : tuple of str, optional
        Overrides the configuration's sources.
    config : QuantFormerStudyConfig, optional
    recompute : bool
        Refit and rescore everything, ignoring finished cells.
    log : callable
        Receives progress lines (the sources' own lines are printed by the process that runs them).
    progress : bool
        Show Lightning's progress bars.
    executor : {"inline", "local", "ray"}
        Where the sources run (:func:`spikebridge.experiments.executors.run_tasks`): one after another
        here, or in parallel processes (each source is independent; every fit uses ``config.threads``
        threads whatever the executor, so the numbers do not depend on it).
    workers : int, optional
        Parallel processes of the ``local`` executor (default: one per core, at most one per source).
    address : str, optional
        Ray cluster address (``ray`` executor).
    then : callable, optional
        Called on each source's result in the process that ran it (e.g. drawing its report figures in
        parallel too); must be picklable for the ``local`` and ``ray`` executors.
    """
    from spikebridge.atomic import write_text_atomic
    from spikebridge.experiments.executors import Task, run_tasks

    cfg = config or QuantFormerStudyConfig(profile=profile)
    if sources:
        cfg = replace(cfg, sources=tuple(sources))
    out = Path(out_dir).resolve()
    store = ResultsStore(out / "results.sqlite")
    start = time.perf_counter()
    root = None if data_root is None else str(data_root)
    tasks = [Task(name, _source_task, (name, cfg, str(out), root, recompute, progress, then),
                  wants_gpu=cfg.accelerator != "cpu")
             for name in cfg.sources]  # fmt: skip
    log(f"quantformer: {len(tasks)} source(s), executor {executor}")
    done: dict[str, SourceResult] = {}
    for task, (result, stored) in run_tasks(tasks, executor, workers, address):
        done[task.key] = result
        how = "read back from the store" if stored else f"computed in {result.seconds:.0f} s"
        log(f"quantformer: {task.key} {how} ({len(done)} of {len(tasks)})")
    results = tuple(done[name] for name in cfg.sources)
    study = QuantFormerStudyResult(
        results, cfg.to_dict(), str(out), str(store.path), time.perf_counter() - start
    )
    write_text_atomic(out / "quantformer.json", json.dumps(study.to_dict(), indent=1, default=str))
    return study
