"""Matrix score cells computed in groups (every model of one source on one target): the same rows as one
cell at a time, and a run stopped inside a group resumes with that group's missing models only."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import write_asdf_v5
from spikebridge.data.types import RecordingInfo, SpikeTrains
from spikebridge.experiments.matrix import MatrixConfig, MatrixRun, score_group
from spikebridge.experiments.scoring import outputs_probabilities, score
from spikebridge.experiments.store import ResultsStore
from spikebridge.experiments.zoo import ModelSpec, fit_model, fit_or_reuse, load_predictor, scored_columns
from spikebridge.preprocess import PrepareConfig
from spikebridge.preprocess.prepare import load_prepared, prepare, save_prepared
from spikebridge.simulation import simulate

N = 8


def _prepared(n_real: int, name: str, seed: int):
    sim = simulate(n_units=n_real, n_bins=30000, regime="in_vitro", seed=seed)
    times = tuple((np.flatnonzero(sim.spikes[:, u]) + 0.5) / 1000 for u in range(n_real))
    trains = SpikeTrains(times, 30.0, RecordingInfo(name=name, preparation="in_vitro"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare(trains, PrepareConfig(n_units=N))


def _cell_alone(model_dir, prep_path) -> list[dict]:
    """One cell scored the way a matrix cell was scored before groups: block length chosen inside."""
    target = load_prepared(prep_path)
    predict, payload = load_predictor(model_dir, target=target)
    result = score(predict, target, n_boot=0, seed=0, unit_mask=scored_columns(payload, target),
                   probabilistic=outputs_probabilities(payload["spec"]["name"]), curves=False)  # fmt: skip
    return [*result.to_rows(), {"metric": "n_units", "value": float(result.n_units)}]


def test_group_rows_equal_cells_scored_one_at_a_time(tmp_path):
    five, eight = _prepared(5, "five", 1), _prepared(N, "eight", 2)
    target = str(save_prepared(eight, tmp_path / "target.npz"))
    dirs = []
    for source, name in ((five, "history"), (five, "rate"), (eight, "history")):
        dirs.append(tmp_path / f"{source.info.name}-{name}")
        fit_model(ModelSpec(name), source, dirs[-1])
    out = score_group([str(d) for d in dirs], target, n_boot=0, seed=0)
    assert out["target_hash"] == eight.data_hash()
    assert [c["source_hash"] for c in out["cells"]] == [five.data_hash()] * 2 + [eight.data_hash()]
    # two scored-column sets (5 columns for the five-unit source, 8 on its own recording), each exact
    assert [{r["metric"]: r["value"] for r in c["rows"]}["n_units"] for c in out["cells"]] == [5, 5, 8]
    for d, cell in zip(dirs, out["cells"], strict=True):
        assert cell["rows"] == _cell_alone(d, target)


@pytest.fixture
def recordings(tmp_path):
    paths = []
    for i in range(2):
        sim = simulate(n_units=N, n_bins=30000, regime="in_vitro", seed=20 + i)
        units = [np.flatnonzero(sim.spikes[:, u]) + 1 for u in range(N)]
        paths.append(str(write_asdf_v5(tmp_path / f"rec{i}.mat", units, n_bins=30000)))
    return paths


def _values(store: ResultsStore) -> dict:
    return {(r["model"], r["source"], r["target"], r["metric"]): r["value"] for r in store.rows()}


@pytest.mark.filterwarnings("ignore:.*shorter than 450 s")
def test_run_stopped_inside_a_group_resumes_its_missing_models_only(recordings, tmp_path):
    config = MatrixConfig(recordings=tuple(recordings), models=("history",), prepare=PrepareConfig(n_units=N))
    logs: list[str] = []
    run = MatrixRun(config, tmp_path / "out", log=logs.append)
    first = run.execute(executor="inline")
    assert first["computed"] == {"fit": 4, "score": 8}
    assert "score: 8 cells to compute, 0 already finished (4 units of work)" in logs
    reference = _values(run.store)
    assert len({k[:3] for k in reference}) == 8
    # as if the run had stopped inside two groups: one model of each group written, the other not
    lost = ["score/rec0/rate/rec1", "score/rec1/history/rec1"]
    con = run.store._connect()
    with con:
        for cell in lost:
            con.execute("DELETE FROM cells WHERE cell = ?", (cell,))
            con.execute("DELETE FROM results WHERE cell = ?", (cell,))
    con.close()
    assert [(t.key, t.meta["models"]) for t in run.score_tasks(run.store.finished_cells(config.run))] == [
        ("score/rec0/rec1", ["rate"]),
        ("score/rec1/rec1", ["history"]),
    ]
    logs.clear()
    second = run.execute(executor="inline")
    assert second["computed"] == {"fit": 0, "score": 2} and second["skipped"] == 4 + 6
    assert "score: 2 cells to compute, 6 already finished (2 units of work)" in logs
    assert _values(run.store) == reference


def test_score_groups_start_when_their_source_is_fitted():
    from spikebridge.experiments.executors import Task
    from spikebridge.experiments.matrix import _after_fits

    fits = [Task(f"fit/{s}/{m}", print) for s, m in (("a", "glm"), ("a", "rate"), ("b", "rate"))]
    scores = [Task(f"score/{s}/{t}", print, meta={"source": s}) for s in "abc" for t in "ab"]
    ready, then = _after_fits(fits, scores)
    assert [t.key for t in ready] == [t.key for t in fits] + ["score/c/a", "score/c/b"]  # c needs no fit
    assert then(fits[0], {}) == []  # a still has a fit running
    assert then(fits[2], {}) == scores[2:4]
    assert then(fits[1], {}) == scores[0:2]
    assert then(scores[0], {}) == [] and then(fits[1], {}) == []  # nothing is released twice


def test_fit_or_reuse_marks_a_stored_fit_and_a_changed_recording_refits(tmp_path):
    five, eight = _prepared(5, "five", 1), _prepared(N, "eight", 2)
    first = fit_or_reuse(ModelSpec("rate"), five, tmp_path / "rate")
    again = fit_or_reuse(ModelSpec("rate"), five, tmp_path / "rate")
    other = fit_or_reuse(ModelSpec("rate"), eight, tmp_path / "rate")  # other data: fitted anew
    assert "reused" not in first and "reused" not in other
    assert again == {**first, "reused": True}
    assert other["data_hash"] == eight.data_hash() != first["data_hash"]
