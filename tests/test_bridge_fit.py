"""Fitting spikebridge's own model through the zoo, loading it through the registry, and matrix cells
that score only the columns real in both recordings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spikebridge.data.types import RecordingInfo, SpikeTrains
from spikebridge.experiments.matrix import score_cell
from spikebridge.experiments.zoo import ModelSpec, fit_model, load_predictor
from spikebridge.preprocess import PrepareConfig
from spikebridge.preprocess.prepare import prepare, save_prepared
from spikebridge.simulation import simulate

N = 8


def _prepared(n_real: int, name: str, seed: int):
    sim = simulate(n_units=n_real, n_bins=30000, regime="in_vitro", seed=seed)
    times = tuple((np.flatnonzero(sim.spikes[:, u]) + 0.5) / 1000 for u in range(n_real))
    trains = SpikeTrains(times, 30.0, RecordingInfo(name=name, preparation="in_vitro"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare(trains, PrepareConfig(n_units=N))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    source, target = _prepared(5, "five", 1), _prepared(N, "eight", 2)
    paths = {
        k: str(save_prepared(p, folder / f"{k}.npz")) for k, p in (("source", source), ("target", target))
    }
    return source, target, paths, folder


def test_cell_scores_only_columns_real_in_both(pair):
    source, target, paths, folder = pair
    assert source.unit_mask.sum() == 5 and target.unit_mask.sum() == N
    fit_model(ModelSpec("history"), source, folder / "history")
    out = score_cell(str(folder / "history"), paths["target"], n_boot=0, seed=0)
    n_units = {r["metric"]: r["value"] for r in out["rows"]}["n_units"]
    assert n_units == 5
    predict, _ = load_predictor(folder / "history", target=target)
    raster = target.val.data.copy()
    changed = raster.copy()
    changed[:, ~source.unit_mask] = ~changed[:, ~source.unit_mask]  # only the source's padding columns
    np.testing.assert_array_equal(predict(raster), predict(changed))


@pytest.mark.slow
def test_bridge_fits_loads_through_the_registry_and_transfers(pair):
    from spikebridge.models.bridge import BridgeModel
    from spikebridge.training.predict import load_model

    source, target, paths, folder = pair
    payload = fit_model(ModelSpec("bridge", "bce", profile="tiny"), source, folder / "bridge")
    assert payload["spec"]["name"] == "bridge-bce" and payload["unit_mask"] == source.unit_mask.tolist()
    model = load_model(folder / "bridge" / payload["artifact"])
    assert isinstance(model, BridgeModel) and model.unit_mask.sum() == 5
    own, _ = load_predictor(folder / "bridge", target=source)
    probs = own(source.val.data)
    assert probs.shape == (source.val.n_bins - 1, N) and np.all((probs > 0) & (probs < 1))
    out = score_cell(str(folder / "bridge"), paths["target"], n_boot=0, seed=0)
    rows = {r["metric"]: r["value"] for r in out["rows"]}
    assert rows["n_units"] == 5 and 0.0 < rows["roc_auc_unit_mean"] <= 1.0
