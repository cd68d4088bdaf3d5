"""`spikebridge generate` and `spikebridge realism` end to end on a small simulated recording."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import write_asdf_v5
from spikebridge.baselines.rate import RateBaseline
from spikebridge.cli.main import main
from spikebridge.errors import SpikebridgeDataError
from spikebridge.experiments.prepared import get_prepared
from spikebridge.experiments.realism import simulate_baseline, split_reference, trial_seed
from spikebridge.experiments.store import ResultsStore
from spikebridge.io.generated import read_generated
from spikebridge.preprocess import PrepareConfig
from spikebridge.simulation import simulate

N_UNITS, N_BINS = 8, 45_000  # 45 s: 30 s train (27 s fit, 3 s validation), 15 s test


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    sim = simulate(n_units=N_UNITS, n_bins=N_BINS, regime="in_vitro", seed=5)
    units = [np.flatnonzero(sim.spikes[:, u]) + 1 for u in range(N_UNITS)]
    return str(write_asdf_v5(tmp_path_factory.mktemp("gen") / "rec.mat", units, n_bins=N_BINS))


@pytest.fixture(scope="module")
def checkpoint(recording, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    args = [
        "fit",
        recording,
        "--model",
        "paper-bce",
        "--profile",
        "tiny",
        "--n-units",
        str(N_UNITS),
        "--loss",
        "bce",
        "--epochs",
        "1",
    ]
    assert main([*args, "--out", str(out)]) == 0
    return out / "best.ckpt"


@pytest.mark.slow
def test_generate_then_realism(recording, checkpoint, tmp_path, capsys):
    gen_path = tmp_path / "gen.nwb"
    args = [
        "generate",
        str(checkpoint),
        "--prefix",
        recording,
        "--seconds",
        "5",
        "--trials",
        "2",
        "--seed",
        "4",
    ]
    assert main([*args, "--out", str(gen_path)]) == 0
    assert "2 trial(s) x 5 s" in capsys.readouterr().out
    gen = read_generated(gen_path)
    assert gen.spikes.shape == (2, 5000, N_UNITS) and gen.spikes.any()
    meta = gen.metadata
    assert meta["seed"] == 4 and meta["prefix_recording"] == "rec" and meta["model"] == "paper-bce"
    assert meta["context"] == 64 and meta["chunk"] == 32 and meta["checkpoint"].endswith("best.ckpt")
    mat_path = tmp_path / "gen.mat"
    short = ["generate", str(checkpoint), "--prefix", recording, "--seconds", "1", "--seed", "4"]
    assert main([*short, "--out", str(mat_path)]) == 0
    # the same seed gives the same spikes: trial 0's first second again
    np.testing.assert_array_equal(read_generated(mat_path).spikes[0], gen.spikes[0, :1000])

    out = tmp_path / "realism"
    assert main(["realism", str(gen_path), recording, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "isi_ks" in text and "corr_20ms" in text and "Poisson" in text
    record = json.loads(next(out.glob("realism_*.json")).read_text())
    assert set(record["candidates"]) >= {"paper-bce", "rate", "real"}
    assert record["candidates"]["paper-bce"]["n_trials"] == 2
    rows = ResultsStore(out / "results.sqlite").rows("realism", model="rate", metric="realism_isi_ks")
    assert len(rows) == 1 and rows[0]["target"] == "rec" and rows[0]["value"] is not None
    assert len(list((out / "figures").glob("realism_*.png"))) == 3


def test_reference_and_ceiling_are_the_test_parts_ends(recording):
    prep, _ = get_prepared(recording, PrepareConfig(n_units=N_UNITS))
    n = 4000
    reference, ceiling, ref_label, ceil_label = split_reference(prep, n)
    np.testing.assert_array_equal(reference, prep.test.data[-n:])
    np.testing.assert_array_equal(ceiling, prep.test.data[:n])
    assert "last 4 s" in ref_label and "first 4 s" in ceil_label
    with pytest.raises(SpikebridgeDataError, match="twice the generated duration"):
        split_reference(prep, prep.test.n_bins // 2 + 1)


def test_rate_baseline_samples_its_probabilities_reproducibly():
    train = np.zeros((10_000, 3), bool)
    train[::10, 0] = True  # p = 0.1
    train[::50, 1] = True  # p = 0.02; unit 2 silent
    base = RateBaseline().fit(train)
    runs = simulate_baseline(base, train[-100:], 20_000, 2, seed=1)
    assert runs.shape == (2, 20_000, 3) and not runs[:, :, 2].any()
    np.testing.assert_allclose(runs.mean(axis=(0, 1))[:2], [0.1, 0.02], atol=0.006)  # > 4 standard errors
    np.testing.assert_array_equal(runs, simulate_baseline(base, train[-100:], 20_000, 2, seed=1))
    assert not np.array_equal(runs[0], runs[1])


def test_baselines_with_simulate_get_one_seed_per_trial():
    class Recorder:
        name = "fake"

        def __init__(self):
            self.calls = []

        def simulate(self, prefix, n_steps, seed=0, temperature=1.0):
            self.calls.append((prefix.shape, n_steps, seed, temperature))
            return np.zeros((n_steps, prefix.shape[1]), bool)

    fake = Recorder()
    runs = simulate_baseline(fake, np.zeros((7, 4), bool), 12, 3, seed=9)
    assert runs.shape == (3, 12, 4)
    assert [c[2] for c in fake.calls] == [trial_seed(9, k) for k in range(3)]
    assert len({c[2] for c in fake.calls}) == 3 and all(c[:2] == ((7, 4), 12) for c in fake.calls)


@pytest.mark.slow
def test_cross_recording_prefix_with_fewer_units_keeps_padding_silent(checkpoint, tmp_path, capsys):
    sim = simulate(n_units=6, n_bins=30_000, regime="in_vivo", seed=8)
    units = [np.flatnonzero(sim.spikes[:, u]) + 1 for u in range(6)]
    other = str(write_asdf_v5(tmp_path / "other.mat", units, n_bins=30_000))
    out = tmp_path / "cross.mat"
    assert main(["generate", str(checkpoint), "--prefix", other, "--seconds", "2", "--out", str(out)]) == 0
    assert "padding to 8" in capsys.readouterr().err
    gen = read_generated(out)
    assert gen.metadata["prefix_recording"] == "other" and gen.metadata["model_source"] == "rec"
    assert gen.unit_mask.sum() == 6 and not gen.spikes[:, :, ~gen.unit_mask].any()
    assert gen.spikes[:, :, gen.unit_mask].any()
