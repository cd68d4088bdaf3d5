"""Binning, windows, splits and the 128-unit standardisation, on exact hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest

from spikebridge.data.types import RecordingInfo, SpikeTrains
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.preprocess import (
    PrepareConfig,
    WindowConfig,
    bin_spikes,
    load_prepared,
    plan_split,
    prepare,
    save_prepared,
    select_units,
)


def trains(times, duration, name="t"):
    return SpikeTrains(
        times=tuple(np.asarray(t, float) for t in times), duration=duration, info=RecordingInfo(name)
    )


def test_binning_marks_bins_and_counts_multi_spike_cells():
    b = bin_spikes(trains([[0.0001, 0.0002, 0.0031], [0.0029]], 0.005))
    assert b.data.shape == (5, 2)
    assert b.data[:, 0].tolist() == [True, False, False, True, False]
    assert b.data[:, 1].tolist() == [False, False, True, False, False]
    assert b.n_multi == 1


def test_binning_window_drops_outside_spikes():
    b = bin_spikes(trains([[0.5, 1.2, 2.9]], 3.0), bin_size=0.5, t_start=1.0, t_stop=2.5)
    assert b.data[:, 0].tolist() == [True, False, False]
    assert b.t_start == 1.0


def test_default_split_is_5_and_2_5_minutes_with_validation_at_end_of_train():
    plan = plan_split(1180.0, WindowConfig())
    assert plan.fit == (0.0, 270.0) and plan.val == (270.0, 300.0) and plan.test == (300.0, 450.0)
    assert not plan.shortened


def test_skip_moves_window():
    plan = plan_split(3000.0, WindowConfig(skip_s=1800.0))
    assert plan.fit[0] == 1800.0 and plan.test == (2100.0, 2250.0)


def test_short_recording_splits_2_to_1_with_warning():
    with pytest.warns(UserWarning, match="shorter than 450 s"):
        plan = plan_split(300.0, WindowConfig())
    assert plan.train == (0.0, 200.0) and plan.test == (200.0, 300.0) and plan.shortened


def test_requested_window_longer_than_recording_is_an_error():
    with pytest.raises(SpikebridgeDataError, match="only 100 s are recorded"):
        plan_split(100.0, WindowConfig(length_s=450.0), source="rec.mat")


@pytest.mark.parametrize("kwargs", [{"train_s": 0}, {"val_fraction": 1.5}, {"length_s": -3}, {"skip_s": -1}])
def test_bad_window_options(kwargs):
    with pytest.raises(SpikebridgeConfigError):
        WindowConfig(**kwargs)


def test_select_units_by_train_rate_with_padding():
    train = np.zeros((10, 3), dtype=bool)
    train[:2, 0] = True
    train[:5, 1] = True
    sel = select_units(train, n_columns=5)
    assert sel.index.tolist() == [1, 0, 2, -1, -1]
    assert sel.mask.tolist() == [True, True, True, False, False]
    np.testing.assert_allclose(sel.train_rates, [0.5, 0.2, 0.0, 0.0, 0.0])
    assert sel.apply(train)[:, 0].tolist() == train[:, 1].tolist()
    assert not sel.apply(train)[:, 3:].any()


def test_select_units_keeps_most_active():
    rng = np.random.default_rng(0)
    rates = np.linspace(0.01, 0.2, 200)
    train = rng.random((2000, 200)) < rates
    sel = select_units(train, n_columns=128)
    assert set(sel.index.tolist()) == set(np.argsort(-train.mean(0), kind="stable")[:128].tolist())


def test_prepare_is_leak_free_and_selection_uses_train_only():
    # unit 0 fires only in the test part, unit 1 only in the train part: the rule must rank unit 1 first
    duration = 45.0
    t_train = np.arange(0.0, 29.0, 0.01)
    t_test = np.arange(31.0, 44.0, 0.001)
    cfg = PrepareConfig(window=WindowConfig(train_s=30.0, test_s=15.0), n_units=4)
    prep = prepare(trains([t_test, t_train, []], duration), cfg)
    assert prep.selection.index.tolist() == [1, 0, 2, -1]
    assert prep.plan.fit[1] <= prep.plan.val[0] and prep.plan.val[1] <= prep.plan.test[0]
    assert prep.fit.n_bins + prep.val.n_bins + prep.test.n_bins == 45000
    assert prep.test.t_start == pytest.approx(30.0)
    assert prep.test.data[:, 0].sum() == 0  # unit 1 never spikes in test
    assert prep.silent_units == 2  # units 0 and 2 are silent in the train part
    assert prep.unit_mask.tolist() == [True, True, True, False]


def test_prepare_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    tr = trains([np.sort(rng.uniform(0, 9, 50)) for _ in range(3)], 9.0)
    cfg = PrepareConfig(window=WindowConfig(train_s=6.0, test_s=3.0), n_units=5)
    prep = prepare(tr, cfg)
    path = save_prepared(prep, tmp_path / "p.npz")
    back = load_prepared(path)
    for part in ("fit", "val", "test"):
        np.testing.assert_array_equal(getattr(back, part).data, getattr(prep, part).data)
    assert back.data_hash() == prep.data_hash()
    assert back.summary() == prep.summary()


def test_load_prepared_rejects_other_files(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(SpikebridgeDataError, match="x.npz"):
        load_prepared(bad)
