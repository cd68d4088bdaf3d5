"""`spikebridge fit` and `spikebridge predict` end to end on a small recording (tiny profile)."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

from conftest import write_asdf_v5
from spikebridge.cli.main import main
from spikebridge.simulation import simulate


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    sim = simulate(n_units=8, n_bins=30000, regime="in_vitro", seed=5)
    units = [np.flatnonzero(sim.spikes[:, u]) + 1 for u in range(8)]
    return str(write_asdf_v5(tmp_path_factory.mktemp("fit") / "rec.mat", units, n_bins=30000))


def test_fit_then_predict(recording, tmp_path, capsys):
    out = tmp_path / "model"
    assert (
        main(["fit", recording, "--profile", "tiny", "--n-units", "8", "--loss", "focal", "--out", str(out)])
        == 0
    )
    text = capsys.readouterr().out
    assert "per-unit ROC-AUC" in text and "best epoch" in text
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(len(rows))) and len(rows) >= 1
    assert {"train_loss", "val_loss", "val_auc", "val_auc_unit_mean"} <= set(rows[0])
    assert main(["predict", str(out / "best.ckpt"), recording, "--out", str(tmp_path / "p.npz")]) == 0
    with np.load(tmp_path / "p.npz") as z:
        assert (
            z["probs"].shape == z["targets"].shape == (10000, 8)
        )  # 30 s split 2:1; every test bin is predicted
        assert np.all((z["probs"] >= 0) & (z["probs"] <= 1))


def test_predict_with_other_unit_count_is_refused(recording, tmp_path):
    out = tmp_path / "model"
    args = ["fit", recording, "--profile", "tiny", "--n-units", "8", "--epochs", "1", "--out", str(out)]
    fit = subprocess.run(
        [sys.executable, "-m", "spikebridge.cli.main", *args], capture_output=True, text=True
    )
    assert fit.returncode == 0
    assert "deprecated" not in fit.stderr  # torch's pytree warning, raised inside Lightning, is filtered
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "spikebridge.cli.main",
            "predict",
            str(out / "best.ckpt"),
            recording,
            "--n-units",
            "6",
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "8" in res.stderr and "6" in res.stderr


def test_corrupt_checkpoint_is_one_line_error(tmp_path, recording):
    bad = tmp_path / "best.ckpt"
    bad.write_bytes(b"not a checkpoint")
    res = subprocess.run(
        [sys.executable, "-m", "spikebridge.cli.main", "predict", str(bad), recording],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "best.ckpt" in res.stderr and "Traceback" not in res.stderr


def test_unknown_loss(recording):
    res = subprocess.run(
        [sys.executable, "-m", "spikebridge.cli.main", "fit", recording, "--loss", "hinge"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "--loss must be one of dice, focal, bce, wbce" in res.stderr
