"""Calibration maps fitted on validation predictions."""

import numpy as np
import pytest
from scipy.special import expit

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.evaluation.calibration import IsotonicCalibrator, PlattCalibrator, make_calibrator
from spikebridge.evaluation.metrics import bits_per_spike


def _calibrated(T=20000, N=4, seed=0):
    """True probabilities p (T, N) and spikes drawn from them."""
    rng = np.random.default_rng(seed)
    p = expit(rng.normal(-3.5, 1.0, (T, N)))
    return p, rng.random((T, N)) < p


def test_platt_keeps_calibrated_probabilities():
    p, y = _calibrated()
    cal = PlattCalibrator().fit(p, y, np.ones(4, bool))
    np.testing.assert_allclose(cal.transform(p), p, atol=0.01)


def test_calibration_repairs_dice_like_scores_on_held_out_bins():
    p, y = _calibrated(T=40000)
    scores = p**0.3  # monotone distortion, like a Dice-trained output: ranks kept, values wrong
    mask = np.ones(4, bool)
    rates = y[:20000].mean(axis=0)
    raw, _ = bits_per_spike(scores[20000:], y[20000:], mask, rates, null="train")
    truth, _ = bits_per_spike(p[20000:], y[20000:], mask, rates, null="train")
    for method in ("isotonic", "platt"):
        cal = make_calibrator(method).fit(scores[:20000], y[:20000], mask)
        fixed, _ = bits_per_spike(cal.transform(scores[20000:]), y[20000:], mask, rates, null="train")
        assert raw < 0 < fixed
        assert fixed == pytest.approx(truth, abs=0.05)


def test_isotonic_is_monotone_clipped_and_bounded():
    p, y = _calibrated()
    cal = IsotonicCalibrator(eps=1e-5).fit(p, y, np.ones(4, bool))
    grid = np.linspace(-1, 2, 301)[:, None].repeat(4, axis=1)  # outside the fitted range too
    out = cal.transform(grid)
    assert np.all(np.diff(out[:, 0]) >= 0)
    assert out.min() >= 1e-5 and out.max() <= 1 - 1e-5


def test_per_unit_models_only_for_units_with_enough_spikes():
    p, y = _calibrated()
    y[:, 2] = False
    y[:5, 2] = True  # unit 2: 5 spikes, uses the pooled map
    mask = np.array([True, True, True, False])
    cal = PlattCalibrator(per_unit=True, min_spikes=100).fit(p, y, mask)
    assert sorted(cal.unit_models_) == [0, 1]
    assert cal.to_dict()["n_unit_models"] == 2


def test_calibrator_errors():
    assert make_calibrator("none") is None
    with pytest.raises(SpikebridgeConfigError):
        make_calibrator("beta")
    with pytest.raises(SpikebridgeConfigError):
        IsotonicCalibrator().transform(np.zeros((3, 2)))
    with pytest.raises(SpikebridgeDataError):
        IsotonicCalibrator().fit(np.zeros((3, 2)), np.zeros((3, 2), bool), np.ones(2, bool))
