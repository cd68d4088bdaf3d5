"""Tests of the IBL ALF reader: the shipped cluster table and tiny hand-built folders."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spikebridge.data.types import RecordingInfo
from spikebridge.errors import SpikebridgeDataError, SpikebridgeError
from spikebridge.io.alf import alf_to_spike_trains, load_one_session, read_alf, read_alf_clusters

# Spikes of a 3-cluster session: cluster 1 never fires.
TIMES = np.array([0.010, 0.020, 0.500, 0.750, 1.250, 2.100])
CLUSTERS = np.array([0, 2, 0, 2, 2, 0])
EXPECTED = [np.array([0.010, 0.500, 2.100]), np.array([]), np.array([0.020, 0.750, 1.250])]


@pytest.fixture
def data_root() -> Path:
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def ibl_folder(data_root: Path) -> Path:
    return data_root / "shimono2025" / "invivo_ibl_NYU-40_2021-04-14_001"


@pytest.fixture
def alf_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "alf"
    folder.mkdir()
    np.save(folder / "spikes.times.npy", TIMES)
    np.save(folder / "spikes.clusters.npy", CLUSTERS.astype(np.uint32))
    np.save(folder / "spikes.amps.npy", np.ones(TIMES.size))
    np.save(folder / "clusters.depths.npy", np.array([100.0, 200.0, 300.0]))
    np.save(folder / "clusters.label.npy", np.array([1.0, 1.0, 0.33]))
    np.save(folder / "clusters.waveforms.npy", np.zeros((3, 4, 2)))
    return folder


def _assert_trains(trains, expected) -> None:
    assert trains.n_units == len(expected)
    for got, want in zip(trains.times, expected, strict=True):
        np.testing.assert_array_equal(got, want)


# --- the shipped IBL cluster table -------------------------------------------------------------


def test_shipped_clusters_npz(ibl_folder: Path) -> None:
    table = read_alf_clusters(ibl_folder / "clusters.npz")
    assert all(col.shape[0] == 358 for col in table.values())
    np.testing.assert_array_equal(table["cluster_id"], np.arange(358))
    assert {"acronym", "depths", "firing_rate", "label", "uuids", "x", "y", "z"} <= set(table)
    assert table["acronym"].dtype.kind == "U" and table["acronym"][0] == "ENTm1"
    assert np.count_nonzero(table["label"] == 1.0) == 84


def test_shipped_clusters_from_folder(ibl_folder: Path) -> None:
    table = read_alf_clusters(ibl_folder)
    assert table["cluster_id"].size == 358 and table["uuids"][0] == "c621d7fc-a404-4fdc-acfa-dd57dcc2920f"


# --- tiny ALF folders --------------------------------------------------------------------------


def test_read_alf_exact_trains(alf_folder: Path) -> None:
    trains = read_alf(alf_folder)
    _assert_trains(trains, EXPECTED)
    np.testing.assert_array_equal(trains.unit_ids, [0, 1, 2])
    assert trains.duration == 3.0
    np.testing.assert_array_equal(trains.unit_meta["depths"], [100.0, 200.0, 300.0])
    assert "waveforms" not in trains.unit_meta and "cluster_id" not in trains.unit_meta
    assert trains.info.name == "alf" and trains.info.preparation == "in_vivo"
    assert trains.info.source == str(alf_folder)


def test_read_alf_good_only_and_duration(alf_folder: Path) -> None:
    trains = read_alf(alf_folder, good_only=True, duration=10.0)
    _assert_trains(trains, EXPECTED[:2])
    np.testing.assert_array_equal(trains.unit_ids, [0, 1])
    assert trains.duration == 10.0


def test_read_alf_duration_rounds_up_integer_last_spike(tmp_path: Path) -> None:
    np.save(tmp_path / "spikes.times.npy", np.array([0.5, 2.0]))
    np.save(tmp_path / "spikes.clusters.npy", np.array([0, 0]))
    trains = read_alf(tmp_path)
    assert trains.duration == 3.0 and trains.n_units == 1


def test_read_alf_npz_table_ids_and_collection(tmp_path: Path) -> None:
    folder = (
        tmp_path / "Subjects_root" / "lab1" / "Subjects" / "M1" / "2021-04-14" / "001" / "alf" / "probe00"
    )
    folder.mkdir(parents=True)
    np.save(folder / "_ibl_spikes.times.npy", TIMES)
    np.save(folder / "_ibl_spikes.clusters.npy", np.array([10, 30, 10, 30, 30, 10]))
    acronym = np.array(["CA1", "VISp", "LP"], dtype=object)
    np.savez(folder / "clusters.npz", cluster_id=np.array([10, 20, 30]), acronym=acronym, label=np.ones(3))
    trains = read_alf(folder.parents[1], collection="alf/probe00", name="s1")
    _assert_trains(trains, EXPECTED)
    np.testing.assert_array_equal(trains.unit_ids, [10, 20, 30])
    np.testing.assert_array_equal(trains.unit_meta["acronym"], ["CA1", "VISp", "LP"])
    assert (trains.info.name, trains.info.lab, trains.info.session) == ("s1", "lab1", "M1/2021-04-14/001")


def test_read_alf_without_cluster_table(tmp_path: Path) -> None:
    np.save(tmp_path / "spikes.times.npy", TIMES)
    np.save(tmp_path / "spikes.clusters.npy", CLUSTERS)
    info = RecordingInfo(name="given", preparation="in_vivo", species="mouse")
    trains = read_alf(tmp_path, info=info)
    _assert_trains(trains, EXPECTED)
    assert trains.info.species == "mouse" and trains.info.source == str(tmp_path)


def test_conversion_from_loaded_objects_with_dataframe() -> None:
    metrics = pd.DataFrame(
        {"cluster_id": [0, 1, 2], "label": [0.0, 1.0, 1.0], "firing_rate": [1.0, 0.0, 1.5]}
    )
    clusters = {"depths": np.array([1.0, 2.0, 3.0]), "metrics": metrics}
    info = RecordingInfo(name="x", source="memory")
    trains = alf_to_spike_trains({"times": TIMES, "clusters": CLUSTERS}, clusters, good_only=True, info=info)
    _assert_trains(trains, EXPECTED[1:])
    np.testing.assert_array_equal(trains.unit_meta["firing_rate"], [0.0, 1.5])


class _FakeOne:
    """Stands in for one.api.ONE: serves in-memory ALF objects."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def load_object(self, eid, obj, collection=None, attribute=None):
        self.calls.append((obj, collection))
        if obj == "spikes":
            return {"times": TIMES, "clusters": CLUSTERS}
        return {"depths": np.array([1.0, 2.0, 3.0]), "uuids": pd.DataFrame({"uuids": ["a", "b", "c"]})}


def test_load_one_session_with_given_one() -> None:
    one = _FakeOne()
    trains = load_one_session("eid-1", probe="probe01", one=one)
    _assert_trains(trains, EXPECTED)
    assert one.calls == [("spikes", "alf/probe01"), ("clusters", "alf/probe01")]
    np.testing.assert_array_equal(trains.unit_meta["uuids"], ["a", "b", "c"])
    assert trains.info.session == "eid-1"


def test_load_one_session_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def load_object(self, *args, **kwargs):
            raise RuntimeError("offline")

    with pytest.raises(SpikebridgeDataError, match="eid-2.*offline"):
        load_one_session("eid-2", one=Broken())
    monkeypatch.setitem(sys.modules, "one.api", None)
    monkeypatch.setitem(sys.modules, "one", None)
    with pytest.raises(SpikebridgeError, match="pip install ONE-api"):
        load_one_session("eid-3")


# --- bad inputs --------------------------------------------------------------------------------


def test_missing_folder_and_files(tmp_path: Path, alf_folder: Path) -> None:
    with pytest.raises(SpikebridgeDataError, match="not found"):
        read_alf(tmp_path / "nope")
    (alf_folder / "spikes.times.npy").unlink()
    with pytest.raises(SpikebridgeDataError, match=r"no spikes\.times"):
        read_alf(alf_folder)
    with pytest.raises(SpikebridgeDataError, match="not found"):
        read_alf_clusters(tmp_path / "clusters.npz")
    with pytest.raises(SpikebridgeDataError, match="no clusters"):
        read_alf_clusters(tmp_path)


def test_truncated_and_corrupt_npy(alf_folder: Path) -> None:
    path = alf_folder / "spikes.times.npy"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(SpikebridgeDataError, match=r"spikes\.times\.npy: not a readable"):
        read_alf(alf_folder)
    path.write_bytes(b"\x93NUMPY garbage garbage garbage")
    with pytest.raises(SpikebridgeDataError, match=r"spikes\.times\.npy"):
        read_alf(alf_folder)


def test_other_format_files(tmp_path: Path, alf_folder: Path) -> None:
    (alf_folder / "spikes.clusters.npy").write_text("cluster\n0\n2\n")
    with pytest.raises(SpikebridgeDataError, match=r"spikes\.clusters\.npy: not a readable"):
        read_alf(alf_folder)
    fake = tmp_path / "clusters.npz"
    np.save(tmp_path / "x.npy", np.arange(3))
    (tmp_path / "x.npy").rename(fake)
    with pytest.raises(SpikebridgeDataError, match=r"clusters\.npz: not a readable \.npz"):
        read_alf_clusters(fake)
    with pytest.raises(SpikebridgeDataError, match="expected a .npz"):
        read_alf_clusters(alf_folder / "spikes.amps.npy")


def test_truncated_npz(tmp_path: Path, ibl_folder: Path) -> None:
    bad = tmp_path / "clusters.npz"
    bad.write_bytes((ibl_folder / "clusters.npz").read_bytes()[:5000])
    with pytest.raises(SpikebridgeDataError, match=r"clusters\.npz: not a readable"):
        read_alf_clusters(bad)


def test_mismatched_lengths_and_nan(alf_folder: Path) -> None:
    np.save(alf_folder / "spikes.clusters.npy", CLUSTERS[:-1])
    with pytest.raises(SpikebridgeDataError, match="6 entries but spikes.clusters has 5"):
        read_alf(alf_folder)
    np.save(alf_folder / "spikes.clusters.npy", CLUSTERS)
    np.save(alf_folder / "spikes.times.npy", np.where(np.arange(6) == 3, np.nan, TIMES))
    with pytest.raises(SpikebridgeDataError, match="1 NaN or infinite"):
        read_alf(alf_folder)


def test_inconsistent_cluster_tables(alf_folder: Path) -> None:
    np.save(alf_folder / "spikes.clusters.npy", np.array([0, 2, 0, 7, 2, 0]))
    with pytest.raises(SpikebridgeDataError, match=r"absent from the clusters table \(e\.g\. 7\)"):
        read_alf(alf_folder)
    np.save(alf_folder / "spikes.clusters.npy", CLUSTERS)
    np.save(alf_folder / "clusters.depths.npy", np.arange(4.0))
    with pytest.raises(SpikebridgeDataError, match="different row counts.*depths 4, label 3"):
        read_alf(alf_folder)
    np.save(alf_folder / "clusters.depths.npy", np.arange(3.0))
    np.save(alf_folder / "spikes.clusters.npy", CLUSTERS - 1)
    with pytest.raises(SpikebridgeDataError, match="non-negative integers"):
        read_alf(alf_folder)


def test_good_only_needs_label_and_duration_must_cover_spikes(alf_folder: Path) -> None:
    (alf_folder / "clusters.label.npy").unlink()
    with pytest.raises(SpikebridgeDataError, match="'label' column"):
        read_alf(alf_folder, good_only=True)
    with pytest.raises(SpikebridgeDataError, match="after the recording's end"):
        read_alf(alf_folder, duration=1.0)


def test_pickled_objects_are_refused(alf_folder: Path) -> None:
    np.save(alf_folder / "clusters.acronym.npy", np.array([Path("a"), "b", "c"], dtype=object))
    with pytest.raises(SpikebridgeDataError, match="refusing to unpickle"):
        read_alf(alf_folder)
