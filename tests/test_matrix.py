"""The cross-recording matrix: cells, resume after a real kill, and the Ray executor."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import write_asdf_v5
from spikebridge.experiments.matrix import MatrixConfig
from spikebridge.experiments.matrix_summary import summarize_matrix
from spikebridge.experiments.store import ResultsStore
from spikebridge.preprocess import PrepareConfig
from spikebridge.simulation import simulate

N_UNITS = 12


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Three simulated 30 s recordings written as asdf files (two bursty 'in vitro', one irregular)."""
    folder = tmp_path_factory.mktemp("recs")
    paths = []
    for i, regime in enumerate(["in_vitro", "in_vivo", "in_vitro"]):
        sim = simulate(n_units=N_UNITS, n_bins=30000, regime=regime, seed=10 + i)
        units = [np.flatnonzero(sim.spikes[:, u]) + 1 for u in range(N_UNITS)]
        paths.append(str(write_asdf_v5(folder / f"rec{i}.mat", units, n_bins=30000)))
    return paths


def matrix_args(recordings, out, *extra):
    return [
        sys.executable, "-m", "spikebridge.cli.main", "matrix", *recordings,
        "--models", "paper-dice", "--profile", "tiny", "--n-units", str(N_UNITS),
        "--workers", "2", "--out", str(out), "--no-figures", *extra,
    ]  # fmt: skip


def store_values(out) -> dict:
    rows = ResultsStore(out / "results.sqlite").rows()
    return {(r["model"], r["source"], r["target"], r["metric"]): r["value"] for r in rows}


def test_config_always_includes_rate_and_names_its_run():
    cfg = MatrixConfig(recordings=("a", "b"), models=("paper-dice",), prepare=PrepareConfig(n_units=4))
    assert cfg.models == ("paper-dice", "rate")
    assert (
        cfg.run
        == MatrixConfig(recordings=("a", "b"), models=("paper-dice",), prepare=PrepareConfig(n_units=4)).run
    )
    assert cfg.run != MatrixConfig(recordings=("a", "b"), seed=1, prepare=PrepareConfig(n_units=4)).run


@pytest.mark.slow
def test_killed_run_resumes_only_missing_cells_and_matches(recordings, tmp_path):
    ref = tmp_path / "ref"
    subprocess.run(matrix_args(recordings, ref), check=True, capture_output=True, text=True)
    reference = store_values(ref)
    assert len({k[:3] for k in reference}) == 2 * 3 * 3  # (dice, rate) x 3 sources x 3 targets

    out = tmp_path / "killed"
    proc = subprocess.Popen(matrix_args(recordings, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    store_file = out / "results.sqlite"
    deadline = time.time() + 240
    while time.time() < deadline:
        if store_file.exists() and len(_work_cells(store_file)) >= 4:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = {c for c in ResultsStore(store_file).finished_cells(_run_name(out)) if "/" in c}
    total = 6 + 18
    assert 4 <= len(finished_before) < total

    res = subprocess.run(matrix_args(recordings, out), check=True, capture_output=True, text=True)
    todo = [
        tuple(map(int, m)) for m in re.findall(r"(\d+) cells to compute, (\d+) already finished", res.stdout)
    ]
    assert sum(t for t, _ in todo) == total - len(finished_before)
    assert sum(s for _, s in todo) == len(finished_before)
    assert store_values(out) == reference


def _work_cells(store_file) -> list[str]:
    """Finished fit / score cells of any run (none while the run is still starting)."""
    con = ResultsStore(store_file)._connect()
    try:
        return [c for (c,) in con.execute("SELECT cell FROM cells") if "/" in c]
    finally:
        con.close()


def _run_name(out) -> str:
    store = ResultsStore(out / "results.sqlite")
    runs = {r for (r,) in store._connect().execute("SELECT DISTINCT run FROM cells")}
    assert len(runs) == 1
    return runs.pop()


@pytest.mark.slow
def test_ray_executor_matches_local(recordings, tmp_path):
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    subprocess.run(matrix_args(recordings[:2], local), check=True, capture_output=True, text=True)
    res = subprocess.run(
        matrix_args(recordings[:2], ray_out, "--executor", "ray"), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert store_values(ray_out) == store_values(local)


def test_summary_groups_and_margin(tmp_path):
    store = ResultsStore(tmp_path / "s.sqlite")
    from spikebridge.experiments.store import ResultRow

    values = {
        ("a", "a"): 0.9,
        ("a", "b"): 0.7,
        ("b", "a"): 0.8,
        ("b", "b"): 0.6,
        ("a", "c"): 0.5,
        ("c", "c"): 0.7,
    }
    rows = [ResultRow("m", s, t, "roc_auc_unit_mean", v) for (s, t), v in values.items()]
    rows += [ResultRow("rate", t, t, "roc_auc_unit_mean", 0.5) for t in "abc"]
    store.write_cell("r", "x", rows)
    summary = summarize_matrix(store, "r", ["a", "b", "c"], ["in_vitro", "in_vivo", "in_vitro"])
    assert summary.names == ["a", "c", "b"]  # in vitro first
    groups = {g.group: g for g in summary.table2("m", "roc_auc_unit_mean")}
    assert groups["in vitro self"].n == 2 and groups["in vitro self"].mean == pytest.approx(0.8)
    assert groups["in vitro -> in vivo"].n == 1 and groups["in vitro -> in vivo"].mean == pytest.approx(0.7)
    assert groups["in vivo -> in vitro"].mean == pytest.approx(0.8)
    assert groups["in vivo others"].n == 0
    assert groups["in vitro others"].n == 1 and groups["in vitro others"].mean == pytest.approx(0.5)
    margin = summary.margin("m", "roc_auc_unit_mean")
    assert margin[0, 0] == pytest.approx(0.4)
    assert summary.seeds("m", "roc_auc_unit_mean")[0][0] == "b"
