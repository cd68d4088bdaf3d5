"""Realism statistics on hand-built rasters, the floor/ceiling placement, the reference split and baselines."""

from __future__ import annotations

import numpy as np
import pytest

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.evaluation.realism import (
    RealismConfig,
    compare,
    cross_correlogram,
    metric_names,
    raster_stats,
    top_pairs,
)
from spikebridge.evaluation.realism_compare import CandidateRealism, assess, place

T = 8000  # 8 s of 1 ms bins: four 2 s spectrum segments
CONFIG = RealismConfig(min_spikes=5)


def _regular(period: int, phase: int = 0, t: int = T) -> np.ndarray:
    x = np.zeros(t, bool)
    x[phase::period] = True
    return x


def _raster(seed: int = 0) -> np.ndarray:
    """Unit 0 fires every 10 bins, unit 1 follows it 3 bins later, units 2-4 are Bernoulli."""
    rng = np.random.default_rng(seed)
    cols = [_regular(10), _regular(10, 3)] + [rng.random(T) < p for p in (0.05, 0.02, 0.01)]
    return np.stack(cols, axis=1)  # (T, 5)


def test_statistics_of_a_regular_unit_are_exact():
    stats = raster_stats(_raster(), CONFIG)
    assert stats.rates[0] == pytest.approx(100.0) and stats.n_spikes[0] == 800
    assert np.all(stats.isis[0] == 10) and stats.cv[0] == 0.0
    assert stats.fano[0] == 0.0  # exactly 10 spikes in every 100 ms window
    assert stats.corr[5].shape == (5, 5) and stats.corr[5][0, 0] == pytest.approx(1.0)
    assert stats.pop_counts.size == T // 10 and stats.pop_counts.sum() == _raster()[: T // 10 * 10].sum()
    assert stats.psd_freqs[1] == pytest.approx(0.5)  # 2 s segments


def test_cross_correlogram_peaks_at_the_planted_lag():
    raster = _raster()
    ccg = cross_correlogram(raster, 0, 1, 5)  # unit 1 spikes 3 bins after unit 0 (period 10)
    p = 0.1
    assert np.argmax(ccg) == 5 + 3
    assert ccg[5 + 3] == pytest.approx((800 / (T - 3)) / (p * p) - 1.0)  # all 800 spikes of unit 0
    np.testing.assert_allclose(np.delete(ccg, 8), -1.0)  # never at any other lag within 5 bins
    assert np.isnan(cross_correlogram(np.zeros((100, 2), bool), 0, 1, 5)).all()


def test_identical_rasters_are_at_zero_distance():
    stats = raster_stats(_raster(), CONFIG)
    dist, per_unit = compare(stats, stats, CONFIG)
    assert set(metric_names(CONFIG)) <= set(dist)
    for name in (
        "rate_rel_error",
        "isi_ks",
        "cv_abs_diff",
        "fano_log_ratio",
        "poprate_ks",
        "psd_db",
        "ccg_rmse",
    ):
        assert dist[name] == pytest.approx(0.0, abs=1e-12), name
    for name in ("rate_corr", "corr_5ms", "corr_20ms", "corr_100ms"):
        assert dist[name] == pytest.approx(1.0), name
    assert dist["n_units_isi_ks"] == 5 and dist["n_units_fano_log_ratio"] == 3  # units 0, 1: Fano 0
    assert per_unit["isi_ks"].shape == (5,)


def test_distances_see_timing_that_rates_miss():
    real = _raster(0)
    shuffled = real.copy()
    rng = np.random.default_rng(1)
    for u in range(2):  # same spike counts, random times: regularity and the pair's lag are gone
        shuffled[:, u] = rng.permutation(real[:, u])
    r, s = raster_stats(real, CONFIG), raster_stats(shuffled, CONFIG)
    dist, per_unit = compare(s, r, CONFIG)
    assert dist["rate_rel_error"] == 0.0 and dist["rate_corr"] == pytest.approx(1.0)
    assert per_unit["isi_ks"][0] > 0.5 and per_unit["cv_abs_diff"][0] > 0.5
    one_pair = RealismConfig(min_spikes=5, n_ccg_pairs=1)  # the most active pair: (0, 1)
    lost, _ = compare(raster_stats(shuffled, one_pair), raster_stats(real, one_pair), one_pair)
    redrawn = real.copy()
    redrawn[:, 2:] = _raster(7)[:, 2:]  # only the independent units change
    kept, _ = compare(raster_stats(redrawn, one_pair), raster_stats(real, one_pair), one_pair)
    assert kept["ccg_rmse"] == 0.0 and lost["ccg_rmse"] > 1.5  # the 3-bin peak (C = 9) is lost


def test_top_pairs_are_the_most_active():
    stats = raster_stats(_raster(), CONFIG)
    assert top_pairs(stats, 3) == [(0, 1), (0, 2), (1, 2)]


def _cand(name, role, mean, per_unit=None, trials=None):
    trials = trials or {k: [v, v] for k, v in mean.items()}
    return CandidateRealism(name, role, 2, mean, {k: 0.0 for k in mean}, trials, per_unit or {})


def test_place_measures_the_gap_between_floor_and_ceiling():
    model = _cand("m", "model", {"corr_5ms": 0.3}, trials={"corr_5ms": [0.29, 0.31, 0.3, 0.32, 0.28]})
    floor = _cand("rate", "floor", {"corr_5ms": 0.0}, trials={"corr_5ms": [0.01, -0.01, 0.0, 0.02, -0.02]})
    ceiling = _cand("real", "ceiling", {"corr_5ms": 0.6})
    (v,) = place(model, floor, ceiling, ["corr_5ms"])
    assert v.gap_closed == pytest.approx(0.5) and v.p_value == pytest.approx(0.0079, abs=1e-4)
    assert v.verdict.startswith("closer to real activity than the Poisson baseline")
    units = {"isi_ks": list(np.linspace(0.1, 0.2, 12))}
    worse = {"isi_ks": list(np.linspace(0.1, 0.2, 12) + 0.05)}
    m2 = _cand("m", "model", {"isi_ks": 0.2}, per_unit=worse)
    f2 = _cand("rate", "floor", {"isi_ks": 0.15}, per_unit=units)
    c2 = _cand("real", "ceiling", {"isi_ks": 0.18})  # ceiling not closer than the floor: no gap
    (w,) = place(m2, f2, c2, ["isi_ks"])
    assert np.isnan(w.gap_closed) and w.test == "wilcoxon paired over 12 units"
    assert w.verdict.startswith("further from real activity") and w.p_value < 0.01


def test_assess_runs_every_candidate_and_keeps_figures():
    real = _raster(0)
    rng = np.random.default_rng(5)
    pois = rng.random((2, T, 5)) < real.mean(axis=0)
    out = assess(
        {"model": ("model", real[None]), "rate": ("floor", pois), "real": ("ceiling", _raster(3)[None])},
        real, CONFIG, "ref", "ceil",
    )  # fmt: skip
    assert out.candidates["model"].mean["isi_ks"] == 0.0 and out.candidates["rate"].n_trials == 2
    assert [v.metric for v in out.verdicts] == list(metric_names(CONFIG))
    assert out.figures.rasters["model (model)"].shape == (2000, 5)
    assert out.figures.names == ("reference (real)", "model (model)", "rate (floor)", "real (ceiling)")
    assert out.to_dict()["candidates"]["rate"]["n_trials"] == 2


def test_bad_inputs_raise():
    with pytest.raises(SpikebridgeConfigError, match="min_spikes"):
        RealismConfig(min_spikes=0)
    with pytest.raises(SpikebridgeConfigError, match="psd_band_hz"):
        RealismConfig(psd_band_hz=(1.0, 900.0))
    with pytest.raises(SpikebridgeDataError, match="segments"):
        raster_stats(np.zeros((100, 3), bool), CONFIG)
    a, b = raster_stats(_raster(), CONFIG), raster_stats(_raster()[:, :4], CONFIG)
    with pytest.raises(SpikebridgeDataError, match="units"):
        compare(a, b, CONFIG)


def test_report_section_holds_the_table_figures_and_notes(tmp_path):
    import matplotlib.pyplot as plt

    from spikebridge.experiments.realism import RealismResult
    from spikebridge.report.blocks import Figure, Paragraph, Report, Table
    from spikebridge.report.engine import render_report
    from spikebridge.report.realism import realism_section, realism_tables

    real = _raster(0)
    pois = np.random.default_rng(5).random((2, T, 5)) < real.mean(axis=0)
    a = assess(
        {"m": ("model", pois), "rate": ("floor", pois[::-1]), "real": ("ceiling", _raster(3)[None])},
        real, CONFIG, "test part, last 8 s", "test part, first 8 s",
    )  # fmt: skip
    result = RealismResult("m", "src", "tgt", "g.nwb", a, ("a note",), {})
    ((title, header, rows),) = realism_tables(result)
    assert header[:4] == ["statistic", "m (model, 2)", "rate (floor, 2)", "real (ceiling, 1)"]
    assert len(rows) == len(metric_names(CONFIG)) and rows[0][0] == "rate_corr (higher is closer)"
    assert "+/-" in rows[0][1] and "+/-" not in rows[0][3] and "last 8 s" in title
    fig, ax = plt.subplots()
    fig.savefig(tmp_path / "realism_rasters_x.png")
    plt.close(fig)
    section = realism_section([(result, [tmp_path / "realism_rasters_x.png"])], ("other: no realism.",))
    (run,) = section.subsections
    assert section.id == "realism" and run.id == "realism-m-tgt"
    kinds = [type(b) for b in run.blocks]
    assert kinds == [Table, Paragraph, Paragraph, Figure] and len(run.blocks[0].rows) == len(rows)
    # the model is the floor's own samples: indistinguishable on every statistic, so the report says so
    assert "not significantly closer to real activity" in run.blocks[2].text
    page = render_report(Report("r", (section,)))
    assert "other: no realism." in page and "a note" in page and "data:image/png;base64," in page


def test_ks_statistic_equals_scipys_on_tied_integer_samples():
    from scipy.stats import ks_2samp

    from spikebridge.evaluation.realism import ks_statistic

    rng = np.random.default_rng(7)
    for n, m in [(1, 1), (5, 300), (2000, 1500)]:
        a, b = rng.geometric(0.05, n), rng.geometric(0.08, m)  # ISIs in bins: many ties
        # scipy's exact mode rounds the statistic to a multiple of 1 / lcm(n, m): equal to float rounding
        assert ks_statistic(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)
    assert ks_statistic(np.array([3, 3, 4]), np.array([3, 3, 4])) == 0.0
    assert ks_statistic(np.array([1, 2]), np.array([5, 6])) == 1.0
