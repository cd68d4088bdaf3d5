"""The 3-D proximity map recovers a known geometry from 1/AUC dissimilarities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from spikebridge.analysis.proximity import dissimilarity_from_auc, proximity_map, stress1
from spikebridge.errors import SpikebridgeDataError


def test_recovers_distances_of_points_in_3d():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(7, 3)) + 3.0
    d = squareform(pdist(pts))
    auc = np.where(np.eye(7, dtype=bool), 0.9, 1.0 / np.where(d > 0, d, 1.0))
    pmap = proximity_map(auc, [f"r{i}" for i in range(7)], ["in_vitro"] * 4 + ["in_vivo"] * 3, seed=1)
    assert pmap.positions.shape == (7, 3)
    assert pmap.stress1 < 1e-3
    np.testing.assert_allclose(squareform(pdist(pmap.positions)), d, atol=1e-2)
    np.testing.assert_allclose(pmap.positions.mean(axis=0), 0.0, atol=1e-9)


def test_dissimilarity_is_symmetrised_inverse_auc():
    auc = np.array([[0.9, 0.8], [0.5, 0.7]])
    d = dissimilarity_from_auc(auc)
    assert d[0, 1] == d[1, 0] == pytest.approx(0.5 * (1 / 0.8 + 1 / 0.5))
    assert d[0, 0] == d[1, 1] == 0.0
    with pytest.raises(SpikebridgeDataError, match="finite and positive"):
        dissimilarity_from_auc(np.array([[0.9, np.nan], [0.5, 0.7]]))


def test_stress_of_a_bad_layout_is_large():
    d = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float)
    assert stress1(np.zeros((3, 3)) + np.arange(3)[:, None] * [1, 0, 0], d) > 0.2


def test_below_chance_cells_are_listed_and_named_in_the_note():
    auc = np.array([[0.7, 0.45, 0.6], [0.55, 0.65, 0.38], [0.6, 0.62, 0.49]])
    pmap = proximity_map(auc, ["a", "b", "c"], ["in_vitro"] * 2 + ["in_vivo"], model="transformer-focal")
    assert pmap.below_chance == (("b", "c", 0.38), ("a", "b", 0.45), ("c", "c", 0.49))
    assert pmap.metric == "roc_auc_unit_mean" and pmap.label == "transformer-focal, mean per-unit ROC-AUC"
    note = pmap.note()
    assert note.startswith("proximity map (transformer-focal, mean per-unit ROC-AUC): 3 cell(s) below chance")
    assert "b -> c 0.380" in note and pmap.to_dict()["below_chance"][0] == ["b", "c", 0.38]
    assert proximity_map(np.full((2, 2), 0.7), ["a", "b"], ["in_vitro"] * 2).note() == ""


def test_margin_over_the_targets_rate_baseline_by_hand():
    from spikebridge.analysis.proximity import margin_scores

    pooled = np.array([[0.90, 0.80], [0.70, 0.95]])
    rate = np.array([[0.91, 0.0], [0.0, 0.75]])  # only the diagonal (each target's own rate) is used
    np.testing.assert_allclose(margin_scores(pooled, rate), [[0.49, 0.55], [0.29, 0.70]])


def test_figures_name_model_metric_and_flag_below_chance(tmp_path):
    from spikebridge.experiments.matrix_summary import MatrixSummary
    from spikebridge.report.matrix import _write_proximity, proximity_model

    names, preps = ["s1", "s2", "v1"], ["in_vitro", "in_vitro", "in_vivo"]
    unit = np.array([[0.70, 0.62, 0.41], [0.60, 0.72, 0.52], [0.58, 0.57, 0.64]])
    values = {
        ("transformer-focal", "roc_auc_unit_mean"): unit,
        ("transformer-dice", "roc_auc_unit_mean"): unit + 0.05,
        ("rate", "roc_auc_unit_mean"): np.full((3, 3), 0.5),
    }
    summary = MatrixSummary(names, preps, values, {})
    assert proximity_model(("transformer-focal", "transformer-dice", "rate"), summary) == "transformer-focal"
    pmap, paths = _write_proximity(summary, tmp_path, "transformer-focal", "roc_auc_unit_mean", False)
    assert pmap.model == "transformer-focal" and pmap.below_chance == (("s1", "v1", 0.41),)
    assert all(p.stat().st_size > 1000 for p in paths)
    html = paths[1].read_text()
    assert "transformer-focal, mean per-unit ROC-AUC" in html and "1 cell(s) below chance" in html
    from spikebridge.viz.matrix import plot_proximity

    fig = plot_proximity(pmap)
    texts = [t.get_text() for t in fig.texts] + [fig.axes[0].get_title()]
    assert any("transformer-focal, mean per-unit ROC-AUC" in t for t in texts)
    assert any("1 cell(s) below chance (0.5); worst: s1 -> v1 0.410" in t for t in texts)
    margin, _ = _write_proximity(summary, tmp_path, "transformer-dice", "roc_auc_unit_mean", True)
    assert margin.metric == "roc_auc_unit_mean_margin_over_rate" and len(margin.below_chance) == 1
    assert margin.below_chance[0][:2] == ("s1", "v1") and margin.below_chance[0][2] == pytest.approx(0.46)
    assert (
        margin.label
        == "transformer-dice, margin of the mean per-unit ROC-AUC over the target's rate baseline + 0.5"
    )
