"""A small, seeded synthetic study (no training) rendered through the real report sections."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from spikebridge.evaluation.metrics import evaluate_predictions
from spikebridge.experiments.evaluate import EvaluationReport, significance_tests
from spikebridge.experiments.store import ResultRow, ResultsStore
from spikebridge.report.blocks import Report
from spikebridge.report.matrix import build_matrix_outputs
from spikebridge.report.study import EvaluationArtifacts, MatrixArtifacts, read_histories, study_report

NAMES = ("vitro_a", "vitro_b", "vitro_c", "vivo_a", "vivo_b")
PREPS = ("in_vitro", "in_vitro", "in_vitro", "in_vivo", "in_vivo")
MODELS = {"paper-dice": 0.5, "paper-focal": 0.25, "rate": 0.0, "glm": 0.4}  # signal strength


def _probs(rng, targets: np.ndarray, rates: np.ndarray, signal: float) -> np.ndarray:
    """(T, N) probabilities: each unit's rate, raised on spike bins by ``signal`` (plus noise)."""
    noise = rng.random(targets.shape)
    return np.clip(rates[None, :] * (1 + signal * (0.15 * targets + noise - 0.5)), 1e-4, 1 - 1e-4)


def synthetic_evaluation(seed: int = 0, n_bins: int = 3000, n_units: int = 6) -> EvaluationReport:
    """An evaluation of four models on one seeded random raster (units 0..n-1, all real)."""
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.02, 0.12, n_units)
    test, val = (rng.random((n_bins, n_units)) < rates for _ in range(2))
    mask = np.ones(n_units, dtype=bool)
    results = {}
    for model, signal in MODELS.items():
        results[model] = evaluate_predictions(
            _probs(rng, test, rates, signal),
            test,
            mask,
            rates,
            val_probs=_probs(rng, val, rates, signal),
            val_targets=val,
            n_boot=10,
            block_len=100,
            seed=seed,
        )
    return EvaluationReport(
        "vitro_a",
        "vitro_a",
        results,
        significance_tests(results, mask),
        float(test.mean()),
        {"seed": seed},
        {},
    )


def write_history(model_dir: Path, val_auc: list[float], best_epoch: int) -> Path:
    """A ``metrics.csv`` (and ``model.json``) as a fit leaves them, with a falling loss."""
    model_dir.mkdir(parents=True, exist_ok=True)
    lines = ["epoch,train_loss,val_loss,val_auc,val_auc_unit_mean,n_units_scored,n_units_skipped"]
    for e, auc in enumerate(val_auc):
        lines.append(f"{e},{0.5 / (e + 1):.4f},{0.6 / (e + 1) + 0.05:.4f},{auc},{auc - 0.3},6,0")
    (model_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
    (model_dir / "model.json").write_text(f'{{"fit": {{"best_epoch": {best_epoch}}}}}')
    return model_dir


def synthetic_matrix(out: Path, seed: int = 0):
    """A finished matrix run in a results store (values seeded), as the study's matrix leaves it."""
    rng = np.random.default_rng(seed)
    store, run = ResultsStore(out / "results.sqlite"), "matrix-synthetic"
    for model, signal in MODELS.items():
        if model == "glm":
            continue
        for i, src in enumerate(NAMES):
            hist = [{"epoch": 0, "val_auc": 0.8, "val_auc_unit_mean": 0.55}]
            store.write_cell(
                run, f"fit/{src}/{model}", [], payload={"fit": {"best_epoch": 0, "history": hist}}
            )
            for j, tgt in enumerate(NAMES):
                pooled = 0.78 + 0.1 * signal * (i == j) + rng.normal(0, 0.01)
                unit = 0.5 + 0.1 * signal + rng.normal(0, 0.01) if signal else 0.5
                rows = [
                    ResultRow(model, src, tgt, "roc_auc_pooled", pooled),
                    ResultRow(model, src, tgt, "roc_auc_unit_mean", unit),
                ]
                store.write_cell(run, f"score/{src}/{model}/{tgt}", rows)
    models = tuple(m for m in MODELS if m != "glm")
    config = SimpleNamespace(
        run=run, recordings=NAMES, models=models, to_dict=lambda: {"recordings": list(NAMES)}
    )
    preps = {
        n: SimpleNamespace(info=SimpleNamespace(preparation=p)) for n, p in zip(NAMES, PREPS, strict=True)
    }
    matrix_run = SimpleNamespace(
        config=config, keys={n: n for n in NAMES}, preps=preps, store=store, out_dir=out
    )
    stats = {"computed": {"fit": 15, "score": 75}, "skipped": 0, "seconds": 30.0, "run": run}
    return build_matrix_outputs(matrix_run, stats), stats


def synthetic_study_report(tmp: Path) -> Report:
    """The study report of a synthetic evaluation and matrix, built by the real section functions."""
    from spikebridge.report.evaluation import write_evaluation

    report = synthetic_evaluation()
    _, roc_pr = write_evaluation(report, tmp, "vitro_a")
    dirs = {
        "paper-dice": write_history(tmp / "fits" / "dice", [0.70, 0.80, 0.83, 0.82], 2),
        "paper-focal": write_history(tmp / "fits" / "focal", [0.65, 0.74, 0.78, 0.79], 3),
        "rate": tmp / "fits" / "rate",
    }
    evaluation = EvaluationArtifacts(report, roc_pr, read_histories(dirs), 12.0)
    outputs, stats = synthetic_matrix(tmp / "matrix")
    src_dirs = {n: write_history(tmp / "fits" / n, [0.7, 0.75 + 0.01 * k], 1) for k, n in enumerate(NAMES)}
    matrix = MatrixArtifacts(outputs, stats, read_histories(src_dirs), {"recordings": list(NAMES)})
    records = [
        {
            "name": n,
            "preparation": p,
            "kind": "spikes",
            "n_units": 6,
            "duration_s": 900.0,
            "mean_rate_hz": 3.0,
            "spike_fraction": 0.003,
            "spike_fraction_fit": 0.003,
            "spike_fraction_val": 0.003,
            "spike_fraction_test": 0.003,
        }
        for n, p in zip(NAMES, PREPS, strict=True)
    ]
    hashes = {n: f"{k:016x}" for k, n in enumerate(NAMES)}
    seconds = {"recordings": 3.0, "evaluate vitro_a": 12.0, "matrix": 30.0, "whole study": 45.0}
    return study_report(records, [evaluation], matrix, hashes, {"prepare": {"n_units": 6}}, seconds)
