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
