"""Ground-truth simulator, connection files, stationarity tests and the GLM coupling adapter."""

import numpy as np
import pytest
from scipy.io import savemat

from spikebridge.analysis.glm_coupling import glm_coupling, glm_kernels
from spikebridge.analysis.stationarity import (
    StationarityRow,
    adf_population,
    compare_preparations,
    population_activity,
)
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.io.connections import read_connection_matrix
from spikebridge.simulation import simulate_network


def test_network_simulation_is_seeded_and_plants_one_lag():
    a, b = simulate_network(8, 5000, lag=3, seed=2), simulate_network(8, 5000, lag=3, seed=2)
    np.testing.assert_array_equal(a.spikes, b.spikes)
    assert not np.array_equal(a.spikes, simulate_network(8, 5000, lag=3, seed=3).spikes)
    s = a.spikes.astype(float)
    drive = a.bias + np.vstack([np.zeros((3, 8)), s[:-3]]) @ a.weights  # row t: bias + spikes[t-3] @ W
    np.testing.assert_allclose(a.prob, 1 / (1 + np.exp(-drive)))
    conn = a.connections()
    assert conn.dtype == np.int8 and not np.diag(conn).any()
    assert set(np.unique(conn)) <= {-1, 0, 1} and (conn != 0).any()
    assert a.to_dict()["n_excitatory"] == int((conn > 0).sum())
    with pytest.raises(SpikebridgeConfigError, match="density"):
        simulate_network(4, 100, density=1.5)


def test_excitatory_connections_raise_the_target_rate_at_the_planted_lag():
    sim = simulate_network(12, 60_000, lag=4, density=0.2, strength=3.0, frac_excitatory=1.0, seed=0)
    pre, post = np.argwhere(sim.connections() > 0)[0]
    s = sim.spikes
    after = s[4:, post][s[:-4, pre]].mean()  # post 4 bins after a pre spike
    other = s[1:, post][s[:-1, pre]].mean()  # post 1 bin after a pre spike
    assert after > 2 * other


def test_connection_files_in_every_format(tmp_path):
    m = np.array([[0, 1, -1], [0, 0, 1], [-1, 0, 0]])
    np.save(tmp_path / "c.npy", m)
    np.savetxt(tmp_path / "c.csv", m, delimiter=",")
    savemat(tmp_path / "synapse_label.mat", {"synapse_label": m.astype(np.int16), "xy": np.zeros((3, 2))})
    for name in ("c.npy", "c.csv", "synapse_label.mat"):
        np.testing.assert_array_equal(read_connection_matrix(tmp_path / name), m)
    savemat(tmp_path / "two.mat", {"a": np.eye(3), "b": np.eye(3)})
    with pytest.raises(SpikebridgeDataError, match="two.mat: expected one square"):
        read_connection_matrix(tmp_path / "two.mat")
    np.testing.assert_array_equal(read_connection_matrix(tmp_path / "two.mat", "b"), np.eye(3))
    np.save(tmp_path / "bad.npy", np.zeros((2, 3)))
    with pytest.raises(SpikebridgeDataError, match="bad.npy: connection matrix must be square"):
        read_connection_matrix(tmp_path / "bad.npy")
    with pytest.raises(SpikebridgeDataError, match="missing.npy: connection file not found"):
        read_connection_matrix(tmp_path / "missing.npy")


def test_population_activity_sums_real_units_over_blocks():
    raster = np.zeros((7, 3), bool)
    raster[[0, 1, 2, 4], [0, 1, 2, 0]] = True
    out = population_activity(raster, np.array([True, True, False]), 2)
    np.testing.assert_array_equal(out, [2.0, 0.0, 1.0])  # the 7th bin is dropped, unit 2 is padding


def test_adf_separates_a_stationary_series_from_a_random_walk():
    rng = np.random.default_rng(0)
    noisy = rng.random((20_000, 4)) < 0.05  # independent bins: stationary counts
    rows = adf_population(noisy, np.ones(4, bool), 1e-3, "noise", "in_vitro", bins_ms=(10.0, 100.0))
    assert [r.bin_ms for r in rows] == [10.0, 100.0] and rows[0].n_samples == 2000
    assert all(r.stationary_05 for r in rows)
    counts = np.clip(
        np.round(2500 + np.cumsum(np.random.default_rng(101).normal(0, 10, 3000))), 0, 5000
    ).astype(int)  # unit root
    blocks = np.arange(100 * 50)[None, :] < counts[:, None]  # (3000, 5000): block k holds counts[k] spikes
    drifting = blocks.reshape(3000 * 100, 50)  # 100 bins x 50 units per 100 ms block
    slow = adf_population(drifting, np.ones(50, bool), 1e-3, "walk", "in_vivo", bins_ms=(100.0,))
    np.testing.assert_array_equal(population_activity(drifting, np.ones(50, bool), 100), counts)
    assert not slow[0].stationary_05
    with pytest.raises(SpikebridgeConfigError, match="multiple"):
        adf_population(noisy, np.ones(4, bool), 1e-3, bins_ms=(1.5,))


def test_preparations_are_compared_only_with_two_recordings_each():
    def row(name, prep, stat):
        return StationarityRow(name, prep, 100.0, 500, stat, 0.01, 3, True)

    one = compare_preparations([row("a", "in_vitro", -5), row("b", "in_vitro", -6), row("c", "in_vivo", -3)])
    assert one[0].test.startswith("not possible") and np.isnan(one[0].p_value)
    assert (one[0].n_in_vitro, one[0].n_in_vivo, one[0].median_in_vitro) == (2, 1, -5.5)
    two = compare_preparations([row("a", "in_vitro", -5), row("b", "in_vitro", -6), row("c", "in_vivo", -3),
                                row("d", "in_vivo", -2)])  # fmt: skip
    assert two[0].test.startswith("Mann-Whitney") and 0 < two[0].p_value <= 1


class _FakeGLM:
    """The attributes of a fitted CoupledGLMBaseline the adapter reads."""

    def __init__(self, coef, mask, taus):
        self.coef_, self.unit_mask_, self.taus = coef, mask, taus


def test_glm_kernels_follow_the_feature_layout():
    mask = np.array([True, False, True])  # real units 0 and 2
    coef = np.zeros((2 * 3, 2))  # blocks lag1, lag2, tau=4; rows = pre (real order), columns = post
    coef[0 * 2 + 0, 1] = 1.0  # lag 1: unit 0 -> unit 2
    coef[1 * 2 + 1, 0] = -2.0  # lag 2: unit 2 -> unit 0
    coef[2 * 2 + 0, 1] = 0.5  # trace: unit 0 -> unit 2
    kern = glm_kernels(_FakeGLM(coef, mask, (4.0,)), max_lag=5)
    assert kern.shape == (5, 3, 3)
    assert kern[0, 0, 2] == 1.0 and kern[1, 2, 0] == -2.0 and not kern[:, 1].any()
    np.testing.assert_allclose(kern[2:, 0, 2], 0.5 * np.exp(-np.array([2.0, 3.0, 4.0]) / 4.0))
    summed = glm_coupling(_FakeGLM(coef, mask, (4.0,)), max_lag=5)
    assert summed[0, 2] == pytest.approx(1.0 + 0.5 * np.exp(-np.array([2.0, 3.0, 4.0]) / 4.0).sum())
    with pytest.raises(SpikebridgeDataError, match="layout"):
        glm_kernels(_FakeGLM(np.zeros((5, 2)), mask, (4.0,)), 5)


def test_connection_labels_come_from_the_option_or_a_synapse_file_beside_the_recording(tmp_path, data_root):
    from spikebridge.experiments.explain import ExplainConfig, connection_labels
    from spikebridge.experiments.prepared import get_prepared
    from spikebridge.io.shimono import read_synapse_labels

    prep, _ = get_prepared("slice_210511001", data_root=data_root)
    labels, source = connection_labels("slice_210511001", prep, ExplainConfig(), data_root)
    raw = read_synapse_labels(data_root / "shimono2025" / "invitro_slice_210511001")
    index = prep.selection.index
    assert source.endswith("synapse_label.mat")
    np.testing.assert_array_equal(labels, np.sign(raw[np.ix_(index, index)]))  # columns follow the rate order
    assert not np.array_equal(index, np.arange(128))
    alone = tmp_path / "rec.mat"
    alone.write_bytes(b"")
    assert connection_labels(str(alone), prep, ExplainConfig(), data_root) == (None, "")
    np.save(tmp_path / "c.npy", raw[:5, :5])
    with pytest.raises(SpikebridgeDataError, match="5 units, but"):
        connection_labels(
            "slice_210511001", prep, ExplainConfig(connections=str(tmp_path / "c.npy")), data_root
        )


def test_glm_coupling_prefers_the_baselines_own_kernel():
    class _WithKernel(_FakeGLM):
        def coupling_kernel(self, n_lags):
            return np.arange(n_lags * 4, dtype=float).reshape(n_lags, 2, 2)

    glm = _WithKernel(np.zeros((6, 2)), np.ones(2, bool), (4.0,))
    np.testing.assert_array_equal(glm_coupling(glm, 3), [[12.0, 15.0], [18.0, 21.0]])
