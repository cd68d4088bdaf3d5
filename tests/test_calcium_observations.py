"""Observations: baseline before onset, response after it, dF/F from the baseline, the activity rule, splits."""

from __future__ import annotations

import numpy as np
import pytest

from spikebridge.data.calcium import StimulusTable, blocks_from_gaps
from spikebridge.data.types import RecordingInfo, Traces
from spikebridge.preprocess.calcium import (
    ObservationConfig,
    active_labels,
    bin_counts,
    count_observations,
    sliding_observations,
    stimulus_observations,
)
from spikebridge.preprocess.obs_split import ObsSplitConfig, split_observations

CFG = ObservationConfig(baseline_len=4, response_len=3, stride=2)


def _traces(values: np.ndarray, kind: str = "F") -> Traces:
    return Traces(values=values, frame_rate=10.0, info=RecordingInfo(name="t"), kind=kind)


def _table(onsets, labels=None, kinds=None, blocks=None) -> StimulusTable:
    n = len(onsets)
    return StimulusTable(
        onsets, np.asarray(onsets) + 2, labels or ["a"] * n, kinds or ["k"] * n, blocks or [0] * n
    )


def test_response_is_read_from_the_frames_from_onset_on():
    f = np.full((20, 1), 10.0)
    f[10:13, 0] = [20.0, 15.0, 12.0]  # the response starts at the onset frame
    obs = stimulus_observations(_traces(f), _table([10]), CFG)
    assert obs.baseline.tolist() == [[0.0, 0.0, 0.0, 0.0]]  # frames 6..9: F/F0 - 1 with F0 = 10
    assert np.allclose(obs.response, [[1.0, 0.5, 0.2]])  # frames 10..12
    assert obs.onset.tolist() == [10] and obs.start.tolist() == [6]
    assert obs.active.tolist() == [True]


def test_dff_baseline_uses_only_frames_before_onset():
    rng = np.random.default_rng(0)
    f = 50.0 + rng.random((30, 2)) * 10
    obs = stimulus_observations(_traces(f), _table([12, 20]), CFG)
    f0 = f[8:12].mean(axis=0)
    assert np.allclose(obs.baseline[:2], (f[8:12] / f0 - 1).T, atol=1e-6)
    assert np.allclose(obs.response[:2], (f[12:15] / f0 - 1).T, atol=1e-6)
    changed = f.copy()
    changed[12:15] *= 3.0  # a larger response must not move the baseline (nor F0)
    again = stimulus_observations(_traces(changed), _table([12, 20]), CFG)
    assert np.array_equal(again.baseline, obs.baseline)
    dff = stimulus_observations(_traces(f, kind="dF/F"), _table([12]), CFG)
    assert np.allclose(
        dff.baseline, (f[8:12] - f[8:12].mean(axis=0)).T, atol=1e-5
    )  # referenced by subtraction


def test_windows_that_do_not_fit_and_dark_baselines_are_dropped():
    f = np.full((15, 2), 10.0)
    f[:, 1] = 0.0  # a ROI with no light: F0 = 0 cannot reference dF/F
    obs = stimulus_observations(_traces(f), _table([2, 8, 13]), CFG)
    assert obs.onset.tolist() == [8] and obs.neuron.tolist() == [0]


def test_activity_rule_boundaries():
    base = np.zeros((4, 3))
    resp = np.array([[0.1] * 2, [0.099] * 2, [0.5] * 2, [-0.2] * 2])
    assert active_labels(base, resp, 0.1, "dF/F").tolist() == [True, False, True, False]
    counts_b = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    counts_f = np.array([[1.1, 1.1], [1.0, 1.0], [0.0, 0.0]])
    assert active_labels(counts_b, counts_f, 0.1, "spikes/bin").tolist() == [True, False, False]


def test_sliding_windows_and_counts():
    values = np.arange(40, dtype=float).reshape(20, 2) + 100.0
    obs = sliding_observations(_traces(values), CFG)
    assert np.unique(obs.onset).tolist() == [4, 6, 8, 10, 12, 14, 16]
    assert obs.stimulus_labels == ("none",) and set(obs.kind) == {"spontaneous"}
    counts = bin_counts((np.array([0.01, 0.02, 0.26]), np.array([0.9])), 0.0, 1.0, 0.25)
    assert counts.tolist() == [[2, 0], [1, 0], [0, 0], [0, 1]]
    c_obs = count_observations(np.tile(counts, (5, 1)), 0.25, np.array([7, 9]), CFG)
    assert c_obs.unit == "spikes/bin" and c_obs.frame_rate == 4.0
    assert c_obs.baseline[0].tolist() == [2.0, 1.0, 0.0, 0.0]  # raw counts, no referencing


def _stimulus_obs(n_blocks: int = 3, per_block: int = 8):
    """Two kinds, each in ``n_blocks`` sub-sessions, windows of 7 frames, presentations 10 frames apart."""
    onsets, labels, kinds, blocks = [], [], [], []
    t = 10
    for b in range(n_blocks):
        for kind in ("x", "y"):
            for i in range(per_block):
                onsets.append(t)
                labels.append(f"{kind}{i % 2}")
                kinds.append(kind)
                blocks.append(b)
                t += 10
            t += 30
    rng = np.random.default_rng(1)
    f = 50 + rng.random((t + 20, 3))
    return stimulus_observations(_traces(f), _table(onsets, labels, kinds, blocks), CFG), f


def test_split_by_block_keeps_parts_apart_in_time():
    obs, _ = _stimulus_obs()
    split = split_observations(obs, ObsSplitConfig(test_fraction=1 / 3, val_fraction=0.25))
    assert set(split.test.block) == {2} and set(split.train.block) | set(split.val.block) == {0, 1}
    frames = {p: set() for p in ("train", "val", "test")}
    for p in frames:
        part = getattr(split, p)
        for s in part.start:
            frames[p].update(range(s, s + 7))
    assert not (frames["train"] & frames["val"]) and not (frames["train"] & frames["test"])
    assert not (frames["val"] & frames["test"])
    for kind in ("x", "y"):  # validation: the last presentations of each kind's train blocks
        assert (
            split.val.onset[split.val.kind == kind].min() > split.train.onset[split.train.kind == kind].max()
        )
    assert split.train.n + split.val.n + split.test.n + sum(split.purged.values()) == obs.n


def test_split_never_looks_at_the_signal():
    obs, f = _stimulus_obs()
    noisy = obs.select(np.arange(obs.n))
    object.__setattr__(
        noisy, "response", np.random.default_rng(5).normal(size=obs.response.shape).astype(np.float32)
    )
    a, b = split_observations(obs), split_observations(noisy)
    for p in ("train", "val", "test"):
        assert np.array_equal(getattr(a, p).onset, getattr(b, p).onset)
        assert np.array_equal(getattr(a, p).neuron, getattr(b, p).neuron)


def test_sliding_windows_split_in_time_with_purging():
    obs = sliding_observations(_traces(50 + np.random.default_rng(0).random((200, 2))), CFG)
    split = split_observations(obs)
    assert split.train.onset.max() + 3 <= split.val.start.min()
    assert split.val.onset.max() + 3 <= split.test.start.min()
    assert split.purged["val"] > 0 and split.purged["test"] == 0


def test_blocks_from_gaps():
    onset = np.array([0, 3, 6, 100, 103, 10, 13])
    kind = np.array(["a", "a", "a", "a", "a", "b", "b"])
    assert blocks_from_gaps(onset, kind, min_gap=20).tolist() == [0, 0, 0, 1, 1, 0, 0]


def test_observation_config_rejects_bad_values():
    from spikebridge.errors import SpikebridgeConfigError

    with pytest.raises(SpikebridgeConfigError, match="baseline_len"):
        ObservationConfig(baseline_len=0)
    with pytest.raises(SpikebridgeConfigError, match="test_fraction"):
        ObsSplitConfig(test_fraction=1.0)
