"""`spikebridge study` end to end on two small recordings: one HTML report with every section."""

from __future__ import annotations

import json
import re
import sqlite3

import numpy as np
import pytest

from conftest import write_asdf_v5
from spikebridge.cli.main import main
from spikebridge.experiments.store import ResultsStore
from spikebridge.report.readme import render_results
from spikebridge.simulation import simulate


def _cells(out) -> dict:
    """Every stored cell of the evaluations' and the matrix's stores, with the time it was written."""
    cells = {}
    for db in (out / "evaluate" / "results.sqlite", out / "matrix" / "results.sqlite"):
        with sqlite3.connect(db) as con:
            cells.update(
                {
                    (db.parent.name, r, c): t
                    for r, c, t in con.execute("SELECT run, cell, finished_at FROM cells")
                }
            )
    return cells


def _counting(calls: dict, kind: str, fn):
    def wrapped(*args, **kwargs):
        calls[kind] += 1
        return fn(*args, **kwargs)

    return wrapped


def test_study_writes_a_report(tmp_path, monkeypatch):
    recs = []
    for i, regime in enumerate(["in_vitro", "in_vivo"]):
        sim = simulate(n_units=8, n_bins=30000, regime=regime, seed=20 + i)
        units = [np.flatnonzero(sim.spikes[:, u]) + 1 for u in range(8)]
        recs.append(str(write_asdf_v5(tmp_path / f"r{i}.mat", units, n_bins=30000)))
    out = tmp_path / "study"
    args = ["study", "--evaluate", recs[0], "--matrix", recs[0], "--matrix", recs[1], "--profile", "tiny",
            "--no-explain", "--no-quantformer"]  # fmt: skip
    assert main([*args, "--n-units", "8", "--n-boot", "5", "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    for needle in (
        "Recordings",
        "slice_210511001",
        '<section id="eval-r0-r0">',
        "bridge-bce",
        "paper-dice",
        "glm",
        "Table 2 layout: per-unit ROC-AUC",
        "margin over the target",
        "Table 2: published values beside ours",
        "Training curves (neural models fitted on r0",
        "Plotly.newPlot",
        '<section id="provenance">',
        '<section id="realism">',
    ):
        assert needle in page, needle
    assert re.search(r'<section id="realism-[^"]+-r0">', page), "no realism run on r0's 10 s test part"
    images = re.findall(r'<img src="([^"]*)"', page)
    assert len(images) >= 8 and all(src.startswith("data:image/png;base64,") for src in images)
    assert (out / "figures" / "roc_pr_r0.png").stat().st_size > 10_000
    assert (out / "matrix" / "figures" / "heatmap_paper-dice_roc_auc_unit_mean.png").is_file()
    summary = json.loads((out / "study_summary.json").read_text())
    assert [e["target"] for e in summary["evaluations"]] == ["r0"]
    assert summary["evaluations"][0]["models"]["glm"]["metrics"]["bits_per_spike_nlb_pooled"][0] is not None
    assert summary["matrix"]["proximity"]["model"] == "bridge-bce"
    assert list(summary["stage_minutes"]) == ["recordings", "evaluations", "matrix", "realism"]
    # the total is rounded to 0.1 min (error <= 0.05) and each of the 4 stages to 0.01 min (<= 0.005 each)
    assert sum(summary["stage_minutes"].values()) == pytest.approx(summary["minutes"], abs=0.05 + 4 * 0.005)
    assert summary["matrix"]["proximity"]["metric"] == "roc_auc_unit_mean"
    text = render_results(summary)
    assert "| bridge-bce |" in text and "On per-unit ROC-AUC, bridge-bce " in text
    assert "### Cross-recording matrix" in text and "2 of unknown preparation" in text
    assert "| group | cells | units scored |" in text
    assert "Empty groups: in vitro self" in text  # asdf files do not say whether they are in vitro
    # one model store for every stage: the matrix reused the evaluation's fits of r0 instead of refitting
    assert not (out / "matrix" / "models").exists()
    store = ResultsStore(out / "matrix" / "results.sqlite")
    with sqlite3.connect(out / "matrix" / "results.sqlite") as db:
        (run,) = db.execute("SELECT DISTINCT run FROM cells WHERE run LIKE 'matrix-%'").fetchone()
    for model in ("bridge-bce", "glm"):
        stored = json.loads(
            next((out / "models" / "r0").glob(f"{model}-tiny-s0")).joinpath("model.json").read_text()
        )
        assert store.cell_payload(run, f"fit/r0/{model}")["seconds"] == stored["seconds"]
        assert store.cell_payload(run, f"fit/r0/{model}")["reused"] is True
    assert summary["matrix"]["fits_from_store"] == len(summary["matrix"]["models"])  # every r0 model

    # A second run on the same folder reads every evaluation and matrix result back from the stores:
    # run in this process (inline executor), it calls neither a fit nor a scoring.
    from spikebridge.evaluation import metrics
    from spikebridge.experiments import zoo

    cells = _cells(out)
    assert sum(k[0] == "evaluate" for k in cells) == 6 and sum(k[2].startswith("score/") for k in cells) == 20
    calls = {"fit": 0, "score": 0}
    monkeypatch.setattr(zoo, "fit_model", _counting(calls, "fit", zoo.fit_model))
    monkeypatch.setattr(
        metrics, "evaluate_predictions", _counting(calls, "score", metrics.evaluate_predictions)
    )
    assert main([*args, "--n-units", "8", "--n-boot", "5", "--out", str(out), "--executor", "inline"]) == 0
    assert calls == {"fit": 0, "score": 0}
    assert _cells(out) == cells  # nothing rewritten
    again = json.loads((out / "study_summary.json").read_text())
    assert again["evaluations"] == summary["evaluations"]
