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
from spikebridge.preprocess.split import minimum_length


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


def test_short_recording_splits_2_to_1_with_warning_giving_the_actual_spans():
    with pytest.warns(UserWarning, match="shorter than 450 s") as record:
        plan = plan_split(300.0, WindowConfig())
    assert plan.train == (0.0, 200.0) and plan.test == (200.0, 300.0) and plan.shortened
    message = str(record[0].message)
    assert "train 200 s (validation: its last 20 s) and test 100 s" in message and "300:150" not in message


def test_minimum_length_by_hand():
    # 30 s: train 20 s (validation 2 s), test 10 s = the smallest test part; one bin less is refused
    assert minimum_length(WindowConfig()) == pytest.approx(29.999)
    with pytest.warns(UserWarning, match="train 19.999 s"):
        plan = plan_split(29.999, WindowConfig(), source="rec.mat")
    assert plan.test == pytest.approx((19.999, 29.999))
    with pytest.raises(
        SpikebridgeDataError, match=r"rec\.mat: window of 29\.998 s is too short; the minimum is 29\.999 s"
    ):
        plan_split(29.998, WindowConfig(), source="rec.mat")
    # with 2% validation the 1 s validation part decides: train >= 50 s, window >= 75 s
    assert minimum_length(WindowConfig(val_fraction=0.02)) == pytest.approx(74.998)
    assert minimum_length(WindowConfig(bin_size=0.01)) == pytest.approx(29.99)


@pytest.mark.parametrize("seconds", [20.0, 1.0])
def test_too_short_recordings_are_refused_at_prepare(seconds):
    rec = trains([np.arange(0.0, seconds, 0.01)], seconds, name="short.mat")
    with pytest.raises(
        SpikebridgeDataError,
        match=rf"short\.mat: window of {seconds:g} s is too short; the minimum is 29\.999 s",
    ):
        prepare(rec, PrepareConfig(n_units=1))


def late_trains(t_start, name="litke.h5"):
    """Spikes from 3600 s to 3690 s on the clock, as some retina files keep them."""
    times = [np.arange(3600.25, 3690.0, 0.05), np.arange(3600.5, 3690.0, 0.1)]
    return SpikeTrains(
        times=tuple(times), duration=3691.0, info=RecordingInfo(name, source=name), t_start=t_start
    )


def test_window_starts_at_the_first_spike_when_the_file_gives_no_start():
    with pytest.warns(
        UserWarning,
        match=r"litke\.h5: the file gives no start time; the window starts at the first spike, 3600\.25 s",
    ):
        prep = prepare(
            late_trains(None), PrepareConfig(window=WindowConfig(train_s=60.0, test_s=30.0), n_units=2)
        )
    assert prep.plan.fit[0] == 3600.25 and prep.plan.origin_rule == "first spike"
    assert prep.plan.test == pytest.approx((3660.25, 3690.25))
    assert prep.fit.spike_fraction == pytest.approx(0.015, abs=2e-4) and prep.silent_units == 0
    assert prep.summary()["window_start_s"] == 3600.25


def test_a_part_without_spikes_is_refused():
    # the file says its clock starts at 0, so the 90 s window [0, 90) s holds no spike
    with pytest.raises(
        SpikebridgeDataError,
        match=r"litke\.h5: the train part \[0, 54\) s holds no spike \(spikes lie in \[3600\.25, 3689\.95\] s\)",
    ):
        prepare(late_trains(0.0), PrepareConfig(window=WindowConfig(train_s=60.0, test_s=30.0), n_units=2))


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
    tr = trains([np.sort(rng.uniform(0, 30, 500)) for _ in range(3)], 30.0)
    cfg = PrepareConfig(window=WindowConfig(train_s=20.0, test_s=10.0), n_units=5)
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
