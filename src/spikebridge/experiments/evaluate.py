"""One evaluation: every model fitted on a source recording, scored on a target's test part.

The target is the source itself by default (within-recording prediction) or another recording
(cross-recording generation). Fitted models are cached by (source data hash, model spec) and results
by (fitted model, data hashes), so re-running reuses both; ``recompute`` refits and rescores
everything (the numbers are identical for a seed and a thread count).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.evaluation.result_types import EvaluationResult
from spikebridge.experiments.executors import Task, run_tasks
from spikebridge.experiments.prepared import get_prepared, recording_key
from spikebridge.experiments.scoring import outputs_probabilities, result_rows, score
from spikebridge.experiments.store import ResultsStore
from spikebridge.experiments.zoo import (
    ModelSpec,
    fit_or_reuse,
    fitted_model_dir,
    is_neural,
    load_predictor,
    model_fingerprint,
    scored_columns,
    stored_fit,
)
from spikebridge.preprocess.prepare import PrepareConfig, load_prepared

EVALUATE_RUN = "evaluate"  # run name of the evaluations' cells in their results store
DEFAULT_MODELS = ("bridge-bce", "paper-dice", "paper-focal", "rate", "history", "glm")
TESTED_METRICS = (("roc_auc", "per-unit ROC-AUC"), ("bits_per_spike", "bits/spike"))


@dataclass(frozen=True)
class EvaluateConfig:
    source: str
    target: str | None = None
    models: tuple[str, ...] = DEFAULT_MODELS
    profile: str = "quick"
    seed: int = 0
    max_epochs: int | None = None
    n_boot: int = 200
    prepare: PrepareConfig = field(default_factory=PrepareConfig)

    def __post_init__(self) -> None:
        names = tuple(dict.fromkeys(ModelSpec.parse(m).name for m in self.models))  # canonical, validated
        object.__setattr__(self, "models", names)
        for m in names:
            self.spec(m)

    def spec(self, model: str) -> ModelSpec:
        return ModelSpec.parse(model, profile=self.profile, seed=self.seed, max_epochs=self.max_epochs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target or self.source,
            "models": list(self.models),
            "profile": self.profile,
            "seed": self.seed,
            "max_epochs": self.max_epochs,
            "n_boot": self.n_boot,
            "prepare": self.prepare.to_dict(),
        }


@dataclass(frozen=True)
class EvaluationReport:
    """Results of one evaluation: per-model EvaluationResult, significance tests, provenance."""

    source: str
    target: str
    results: dict[str, Any]
    tests: list[dict]
    chance: float
    config: dict[str, Any]
    fit_seconds: dict[str, float]
    seconds: float = 0.0  # worker seconds of the units computed in this run (0: all read back)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "config": self.config,
            "chance": self.chance,
            "fit_seconds": self.fit_seconds,
            "tests": self.tests,
            "results": {m: r.to_dict() for m, r in self.results.items()},
        }


def significance_tests(results: dict, unit_mask: np.ndarray, neural: set[str] | None = None) -> list[dict]:
    """Per-unit tests: every model's ROC-AUC against chance, and every neural model against every
    baseline on per-unit ROC-AUC and per-unit bits/spike.

    Two-sided Wilcoxon signed-rank tests paired over the real units (a unit enters a comparison when
    both values are defined; units without a test spike or non-spike have no per-unit AUC and are
    counted in ``n_dropped``). ``neural`` names the neural models (default: every model whose spec is
    neural). Each record also holds ``p_holm``, the p-value Holm-adjusted over all the tests of this
    evaluation, and ``verdict``, the sentence of :mod:`spikebridge.evaluation.verdict` built from it.
    """
    from spikebridge.evaluation.stats import holm, versus_baseline, versus_chance
    from spikebridge.evaluation.verdict import verdict_from_test

    neural = neural if neural is not None else {m for m in results if is_neural(m)}
    per_unit = {
        key: {m: np.asarray(r.per_unit[key], dtype=float)[unit_mask] for m, r in results.items()}
        for key, _ in TESTED_METRICS
    }
    auc = per_unit["roc_auc"]
    tests = [{"model": m, "against": "chance", "metric": "roc_auc", **versus_chance(a).to_dict()}
             for m, a in auc.items()]  # fmt: skip
    for model in (m for m in results if m in neural):
        for base in (b for b in results if b not in neural):
            for key, _ in TESTED_METRICS:
                test = versus_baseline(per_unit[key][model], per_unit[key][base], metric=key)
                tests.append({"model": model, "against": base, "metric": key, **test.to_dict()})
    for test, p_adj in zip(tests, holm([t["p_value"] for t in tests]), strict=True):
        test["p_holm"] = None if not np.isfinite(p_adj) else float(p_adj)
        test["verdict"] = verdict_from_test(test).sentence()
    return tests


def evaluation_cell(
    spec: dict, source_path: str, target_path: str, model_dir: str, n_boot: int, recompute: bool = False
) -> dict:
    """Unit of work (runs in a worker): fit (or reuse) one model on the source, score it on the target.

    Returns ``{"result": EvaluationResult, "fit": model payload, "seconds": float}``.
    """
    start = time.perf_counter()
    model_spec = ModelSpec.from_dict(spec)
    target = load_prepared(target_path)
    payload = fit_or_reuse(model_spec, load_prepared(source_path), Path(model_dir), recompute)
    predict, _ = load_predictor(Path(model_dir), target=target)
    result = score(predict, target, n_boot=n_boot, seed=model_spec.seed,
                   unit_mask=scored_columns(payload, target), probabilistic=outputs_probabilities(model_spec.name),
                   calibrated=("one_map", "unit_maps"))  # fmt: skip
    return {"result": result, "fit": payload, "seconds": time.perf_counter() - start}


def _stored_result(store: ResultsStore, cell: str, model_dir: Path, spec: ModelSpec, hashes: tuple):
    """The stored result of ``cell`` when it was scored with the model now in ``model_dir`` on the same
    data (source and target hashes); else None."""
    stored = store.cell_payload(EVALUATE_RUN, cell) or {}
    fit = stored_fit(spec, hashes[0], model_dir)
    if "result" not in stored or fit is None or stored.get("data_hash") != ":".join(hashes):
        return None
    if stored.get("model") != model_fingerprint(model_dir):
        return None
    return EvaluationResult.from_dict(stored["result"]), fit


@dataclass
class _Plan:
    """One evaluation's cells, stored results and the units of work still to run."""

    cfg: EvaluateConfig
    skey: str
    tkey: str
    target: Any
    hashes: tuple[str, str]
    store: ResultsStore
    dirs: dict[str, Path]
    cells: dict[str, str]
    done: dict[str, tuple]
    tasks: list[Task]
    seconds: float = 0.0


def _plan(cfg, out_dir: Path, data_root, recompute: bool, log, models_root: Path) -> _Plan:
    """Read back what is stored; one unit of work per model still to fit or score."""
    source, source_path = get_prepared(cfg.source, cfg.prepare, data_root=data_root)
    target, target_path = (
        (source, source_path)
        if cfg.target in (None, cfg.source)
        else get_prepared(cfg.target, cfg.prepare, data_root)
    )
    skey, tkey = recording_key(cfg.source), recording_key(cfg.target or cfg.source)
    hashes = (source.data_hash(), target.data_hash())
    store = ResultsStore(out_dir / "results.sqlite")
    dirs = {m: fitted_model_dir(models_root, skey, cfg.spec(m)) for m in cfg.models}
    cells = {m: f"evaluate/{skey}/{tkey}/{m}/{cfg.profile}/s{cfg.seed}/b{cfg.n_boot}" for m in cfg.models}
    stored = (
        {}
        if recompute
        else {m: _stored_result(store, cells[m], dirs[m], cfg.spec(m), hashes) for m in cfg.models}
    )
    done = {m: r for m, r in stored.items() if r is not None}
    tasks = []
    for m in (m for m in cfg.models if m not in done):
        fitted = not recompute and stored_fit(cfg.spec(m), hashes[0], dirs[m]) is not None
        log(f"  {m}: {'cached fit' if fitted else f'fitting on {skey}'}, scoring {tkey} test part")
        args = (
            cfg.spec(m).to_dict(),
            str(source_path),
            str(target_path),
            str(dirs[m]),
            cfg.n_boot,
            recompute,
        )
        tasks.append(Task(f"{skey}/{tkey}/{m}", evaluation_cell, args, wants_gpu=cfg.spec(m).is_neural,
                          meta={"model": m, "fitted": fitted}))  # fmt: skip
    for m in done:
        log(f"  {m}: result read from {store.path.name}")
    return _Plan(cfg, skey, tkey, target, hashes, store, dirs, cells, done, tasks)


def _record(plan: _Plan, model: str, out: dict) -> None:
    """Store one finished unit of work (its rows and full result) in the plan's results store."""
    cfg = plan.cfg
    config = {**cfg.to_dict(), "model": cfg.spec(model).to_dict()}
    rows = result_rows(out["result"], model, plan.skey, plan.tkey, config, ":".join(plan.hashes))
    payload = {"per_unit": out["result"].to_dict()["per_unit"], "result": out["result"].to_dict(),
               "model": model_fingerprint(plan.dirs[model]), "data_hash": ":".join(plan.hashes)}  # fmt: skip
    plan.store.write_cell(EVALUATE_RUN, plan.cells[model], rows, payload=payload, seconds=out["seconds"])
    plan.done[model] = (out["result"], out["fit"])
    plan.seconds += out["seconds"]


def _report(plan: _Plan) -> EvaluationReport:
    cfg, target = plan.cfg, plan.target
    results = {m: plan.done[m][0] for m in cfg.models}
    fit_seconds = {m: float(plan.done[m][1].get("seconds", 0.0)) for m in cfg.models}
    tests = significance_tests(results, target.unit_mask, {m for m in cfg.models if cfg.spec(m).is_neural})
    chance = float(target.test.data[:, target.unit_mask].mean())
    return EvaluationReport(plan.skey, plan.tkey, results, tests, chance, cfg.to_dict(), fit_seconds,
                            plan.seconds)  # fmt: skip


def _longest_first(task: Task) -> int:
    """Order of submission: fits of neural models before baselines, so the last units are short."""
    return (0 if task.wants_gpu else 2) - (0 if task.meta.get("fitted") else 1)


def run_evaluations(
    cfgs: list[EvaluateConfig],
    out_dir: Path,
    data_root: Path | None = None,
    recompute: bool = False,
    log: Callable[[str], None] = print,
    models_root: Path | None = None,
    executor: str = "inline",
    workers: int | None = None,
) -> list[EvaluationReport]:
    """Several evaluations whose units of work share one executor (no core waits for one evaluation's
    slowest model while another evaluation has work); reports in the order of ``cfgs``.

    Fitted models live in :func:`~spikebridge.experiments.zoo.fitted_model_dir` of ``models_root``
    (default ``out_dir``), the store a study shares between all its stages. A model whose result is
    in the results store (scored with the same fitted model on the same data) is read back, neither
    refitted nor rescored; the others run as units of work on ``executor`` (see
    :func:`~spikebridge.experiments.executors.run_tasks`), neural fits first. ``recompute`` refits
    and rescores all.
    """
    out_dir = Path(out_dir)
    models_root = Path(models_root) if models_root is not None else out_dir
    plans = []
    for cfg in cfgs:
        log(f"evaluate {cfg.source}" + (f" -> {cfg.target}" if cfg.target not in (None, cfg.source) else ""))
        plans.append(_plan(cfg, out_dir, data_root, recompute, log, models_root))
    owner = {id(t): plan for plan in plans for t in plan.tasks}
    tasks = sorted((t for plan in plans for t in plan.tasks), key=_longest_first)  # stable: plan order kept
    for task, out in run_tasks(tasks, executor, workers):
        _record(owner[id(task)], task.meta["model"], out)
    return [_report(plan) for plan in plans]


def run_evaluation(
    cfg: EvaluateConfig,
    out_dir: Path,
    data_root: Path | None = None,
    recompute: bool = False,
    log: Callable[[str], None] = print,
    models_root: Path | None = None,
    executor: str = "inline",
    workers: int | None = None,
) -> EvaluationReport:
    """Fit (or reuse) every model on the source, score each on the target's test part, store the rows
    (one evaluation of :func:`run_evaluations`)."""
    return run_evaluations([cfg], out_dir, data_root, recompute, log, models_root, executor, workers)[0]
