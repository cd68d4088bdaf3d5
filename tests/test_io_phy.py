"""Tests of the phy / Kilosort reader on folders written by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikebridge.data.types import RecordingInfo
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.io.phy import read_phy

FS = 20000.0
SAMPLES = np.array([100, 250, 4000, 9000, 20000, 30000, 39999], dtype=np.uint64)
CLUSTERS = np.array([0, 2, 1, 0, 2, 0, 1], dtype=np.int32)
# cluster 3 is listed in the tables but never fires
GROUPS = {0: "good", 1: "mua", 2: "noise", 3: "good"}
KSLABELS = {0: "good", 1: "good", 2: "mua", 3: "mua"}
TRAIN = {
    0: np.array([100, 9000, 30000]) / FS,
    1: np.array([4000, 39999]) / FS,
    2: np.array([250, 20000]) / FS,
    3: np.array([]),
}


def _write_tsv(path: Path, column: str, values: dict[int, str]) -> None:
    rows = "".join(f"{k}\t{v}\n" for k, v in values.items())
    path.write_text(f"cluster_id\t{column}\n{rows}")


def _make_folder(folder: Path, curated: bool = True, raw_samples: int | None = None) -> Path:
    folder.mkdir()
    np.save(folder / "spike_times.npy", SAMPLES)
    np.save(folder / "spike_clusters.npy", CLUSTERS)
    params = f"dat_path = 'raw.bin'\nn_channels_dat = 4\ndtype = 'int16'\noffset = 0\nsample_rate = {FS}\n"
    (folder / "params.py").write_text(params + "hp_filtered = False\n")
    _write_tsv(folder / "cluster_KSLabel.tsv", "KSLabel", KSLABELS)
    if curated:
        _write_tsv(folder / "cluster_group.tsv", "group", GROUPS)
    if raw_samples is not None:
        np.zeros((raw_samples, 4), dtype=np.int16).tofile(folder / "raw.bin")
    return folder


@pytest.fixture
def phy_folder(tmp_path: Path) -> Path:
    return _make_folder(tmp_path / "phy")


def _assert_units(trains, ids) -> None:
    np.testing.assert_array_equal(trains.unit_ids, ids)
    for got, uid in zip(trains.times, ids, strict=True):
        np.testing.assert_array_equal(got, TRAIN[uid])


def test_read_phy_excludes_noise_and_keeps_silent(phy_folder: Path) -> None:
    trains = read_phy(phy_folder)
    _assert_units(trains, [0, 1, 3])
    np.testing.assert_array_equal(trains.unit_meta["group"], ["good", "mua", "good"])
    np.testing.assert_array_equal(trains.unit_meta["KSLabel"], ["good", "good", "mua"])
    assert trains.duration == 2.0  # last spike 39999 / 20 kHz = 1.99995 s, rounded up
    assert trains.info.name == "phy" and trains.info.extra["extractor"] == "phy"
    assert trains.info.extra["sampling_rate"] == FS


def test_read_phy_all_and_good_only(phy_folder: Path) -> None:
    _assert_units(read_phy(phy_folder, exclude_noise=False), [0, 1, 2, 3])
    _assert_units(read_phy(phy_folder, good_only=True), [0, 3])


def test_kilosort_folder_uses_kslabel(tmp_path: Path) -> None:
    folder = _make_folder(tmp_path / "ks", curated=False)
    trains = read_phy(folder, good_only=True, info=RecordingInfo(name="ks-run", preparation="in_vivo"))
    _assert_units(trains, [0, 1])
    assert trains.info.extra["extractor"] == "kilosort" and trains.info.source == str(folder)
    assert trains.info.name == "ks-run"


def test_duration_from_raw_file_or_argument(tmp_path: Path) -> None:
    folder = _make_folder(tmp_path / "raw", raw_samples=50000)
    assert read_phy(folder).duration == 2.5
    assert read_phy(folder, duration=7.0).duration == 7.0


def test_missing_inputs(tmp_path: Path, phy_folder: Path) -> None:
    with pytest.raises(SpikebridgeDataError, match=r"no spike_times\.npy"):
        read_phy(tmp_path / "nope")
    (phy_folder / "spike_clusters.npy").unlink()  # named as missing, not spike_templates.npy
    with pytest.raises(SpikebridgeDataError, match=r"no spike_clusters\.npy, nor spike_templates\.npy"):
        read_phy(phy_folder)
    np.save(phy_folder / "spike_templates.npy", CLUSTERS)  # Kilosort's template ids stand in for clusters
    _assert_units(read_phy(phy_folder), [0, 1, 3])


def test_folder_without_params_needs_and_takes_a_sampling_rate(phy_folder: Path) -> None:
    (phy_folder / "params.py").unlink()
    with pytest.raises(SpikebridgeDataError, match=r"params\.py: is missing; pass the sampling rate"):
        read_phy(phy_folder)
    trains = read_phy(phy_folder, sampling_rate=FS)
    _assert_units(trains, [0, 1, 3])
    assert trains.info.extra["sampling_rate"] == FS and trains.duration == 2.0
    assert not (phy_folder / "params.py").exists()  # the folder itself is left untouched
    doubled = read_phy(phy_folder, sampling_rate=2 * FS)
    np.testing.assert_allclose(doubled.times[0], TRAIN[0] / 2)


def test_params_without_sample_rate_is_a_one_line_error(phy_folder: Path) -> None:
    (phy_folder / "params.py").write_text("n_channels_dat = 4\ndtype = 'int16'\n")
    with pytest.raises(SpikebridgeDataError, match=r"params\.py: has no sample_rate; pass the sampling rate"):
        read_phy(phy_folder)
    assert read_phy(phy_folder, sampling_rate=FS).n_units == 3


def test_units_choice_by_curation_label(tmp_path: Path) -> None:
    # curation labels win over KSLabel where set; cluster 1 is "mua" by curation, 3 by KSLabel only
    folder = _make_folder(tmp_path / "mua")
    _write_tsv(folder / "cluster_group.tsv", "group", {0: "good", 1: "mua", 2: "noise", 3: "unsorted"})
    good = read_phy(folder, units="good")
    _assert_units(good, [0])
    assert good.info.extra["units"] == "good" and good.info.extra["unit_quality"] == {"good": 1}
    mua = read_phy(folder, units="good+mua")
    _assert_units(mua, [0, 1, 3])
    np.testing.assert_array_equal(mua.unit_meta["quality"], ["good", "mua", "mua"])
    assert mua.info.extra["unit_quality"] == {"good": 1, "mua": 2}
    _assert_units(read_phy(folder, units="all"), [0, 1, 2, 3])
    with pytest.raises(SpikebridgeConfigError, match="units must be one of good, good\\+mua, all"):
        read_phy(folder, units="best")


def test_truncated_and_other_format(phy_folder: Path) -> None:
    path = phy_folder / "spike_times.npy"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(SpikebridgeDataError, match=r"spike_times\.npy: not a readable"):
        read_phy(phy_folder)
    path.write_text("100\n250\n")
    with pytest.raises(SpikebridgeDataError, match=r"spike_times\.npy: not a readable"):
        read_phy(phy_folder)


def test_mismatched_lengths_and_nan(phy_folder: Path) -> None:
    np.save(phy_folder / "spike_clusters.npy", CLUSTERS[:-2])
    with pytest.raises(SpikebridgeDataError, match="7 spikes but spike_clusters.npy has 5"):
        read_phy(phy_folder)
    np.save(phy_folder / "spike_clusters.npy", CLUSTERS)
    np.save(phy_folder / "spike_times.npy", np.where(np.arange(7) == 1, np.nan, SAMPLES.astype(float)))
    with pytest.raises(SpikebridgeDataError, match="1 NaN or infinite"):
        read_phy(phy_folder)


def test_bad_params_and_tables(phy_folder: Path) -> None:
    _write_tsv(phy_folder / "cluster_group.tsv", "group", {0: "good", 1: "mua"})
    with pytest.raises(SpikebridgeDataError, match=r"1 cluster\(s\) with spikes are missing.*e\.g\. 2"):
        read_phy(phy_folder)
    (phy_folder / "params.py").write_text("sample_rate = 20000.0\nn_channels_dat = (\n")
    with pytest.raises(SpikebridgeDataError, match=r"params\.py: not a readable params\.py \(SyntaxError"):
        read_phy(phy_folder)


def test_prepare_a_published_folder_without_params_and_with_mua(tmp_path: Path, capsys) -> None:
    """A folder as published: no params.py, cluster labels with many "mua"; the choice is recorded."""
    from spikebridge.cli.main import main
    from spikebridge.preprocess import load_prepared

    folder = tmp_path / "published"
    folder.mkdir()
    rng = np.random.default_rng(0)
    samples = np.sort(rng.integers(0, int(40 * FS), 4000)).astype(np.uint64)  # 40 s at 20 kHz
    np.save(folder / "spike_times.npy", samples)
    np.save(folder / "spike_clusters.npy", (np.arange(4000) % 4).astype(np.int32))
    _write_tsv(folder / "cluster_group.tsv", "group", {0: "good", 1: "mua", 2: "mua", 3: "noise"})
    out = tmp_path / "p.npz"
    assert main(["prepare", str(folder), "--n-units", "3", "--out", str(out)]) == 2
    assert "params.py: is missing; pass the sampling rate" in capsys.readouterr().err
    args = ["prepare", str(folder), "--n-units", "3", "--sampling-rate", "20000", "--units", "good+mua"]
    assert main([*args, "--out", str(out)]) == 0
    assert "columns by curation label: 1 good, 2 mua (units: good+mua)" in capsys.readouterr().out
    prep = load_prepared(out)
    assert prep.config.read == (("sampling_rate", 20000.0), ("units", "good+mua"))
    assert prep.info.extra["units"] == "good+mua" and prep.info.extra["column_quality"] == {
        "good": 1,
        "mua": 2,
    }
    assert sorted(prep.fit.unit_ids.tolist()) == [0, 1, 2]
