"""The catalog, `spikebridge datasets` and `spikebridge prepare`, including bad input at the CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import write_asdf_v5, write_mea_h5
from spikebridge.catalog import get_entry, load_catalog, open_recording, resolve_data_root
from spikebridge.cli.main import main
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.preprocess import load_prepared

SPIKE_NAMES = [
    "slice_210511001",
    "ibl_NYU-40_2021-04-14_001",
    "culture_ctx_div14_tc03",
    "culture_ctx_div21_tc01",
    "culture_ctx_div28_tc02",
    "culture_ctx_div21_tc01c",
    "culture_hpc_tc104_div21",
    "culture_hpc_tc127_div28",
    "retina_p10",
    "retina_p12",
]


def test_catalog_lists_every_shipped_recording(data_root):
    cat = load_catalog()
    assert [n for n, e in cat.items() if e.kind == "spikes"] == SPIKE_NAMES
    assert cat["suite2p_calcium"].kind == "calcium"
    assert all(e.present(data_root) for e in cat.values())
    assert cat["slice_210511001"].preparation == "in_vitro"
    assert cat["ibl_NYU-40_2021-04-14_001"].preparation == "in_vivo"


def test_data_root_order(tmp_path, monkeypatch, data_root):
    assert resolve_data_root(tmp_path) == tmp_path
    monkeypatch.setenv("SPIKEBRIDGE_DATA", str(tmp_path))
    assert resolve_data_root() == tmp_path
    monkeypatch.setenv("SPIKEBRIDGE_DATA", str(tmp_path / "absent"))
    with pytest.raises(SpikebridgeDataError, match="absent"):
        resolve_data_root()


def test_unknown_name():
    with pytest.raises(SpikebridgeConfigError, match="unknown recording 'nope'"):
        get_entry("nope")
    with pytest.raises(SpikebridgeConfigError, match="unknown recording 'nope'"):
        open_recording("nope")


def test_invivo_entry_carries_ibl_unit_table(data_root):
    rec = get_entry("ibl_NYU-40_2021-04-14_001").load(data_root)
    assert rec.n_units == 128
    assert rec.duration == pytest.approx(1180.4, abs=0.1)
    assert rec.unit_meta["acronym"][0].startswith("ENT")
    slice_rec = get_entry("slice_210511001").load(data_root)
    assert slice_rec.unit_meta["layer"].shape == (128,)


def test_datasets_command_prints_units_and_durations(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    lines = {ln.split()[1]: ln for ln in out.splitlines() if ln.strip().startswith("│")}
    assert set(SPIKE_NAMES + ["suite2p_calcium"]) <= set(lines)
    assert "128" in lines["slice_210511001"] and "400.1" in lines["slice_210511001"]
    assert "128" in lines["ibl_NYU-40_2021-04-14_001"] and "1180.4" in lines["ibl_NYU-40_2021-04-14_001"]
    assert "0.0178" in lines["slice_210511001"]
    assert "774" in lines["retina_p10"] and "219" in lines["suite2p_calcium"]


def test_datasets_show(capsys):
    assert main(["datasets", "show", "slice_210511001"]) == 0
    out = capsys.readouterr().out
    assert "in_vitro" in out and "n_units" in out and "layer" in out


@pytest.mark.parametrize(
    ("name", "train_fraction"), [("slice_210511001", 0.01775), ("ibl_NYU-40_2021-04-14_001", None)]
)
def test_prepare_slice_and_invivo(capsys, tmp_path, name, train_fraction):
    out_file = tmp_path / f"{name}.npz"
    assert main(["prepare", name, "--out", str(out_file)]) == 0
    text = capsys.readouterr().out
    assert "spike fraction" in text and "test" in text
    prep = load_prepared(out_file)
    assert prep.fit.data.shape[1] == prep.test.data.shape[1] == 128
    assert prep.fit.data.dtype == bool
    assert prep.plan.train[1] <= prep.plan.test[0]
    assert prep.fit.t_start + prep.fit.duration <= prep.val.t_start + 1e-9
    assert prep.val.t_start + prep.val.duration <= prep.test.t_start + 1e-9
    if train_fraction is not None:
        assert prep.fit.spike_fraction == pytest.approx(train_fraction, abs=1e-5)
    else:
        assert prep.plan.test == (300.0, 450.0)


def test_prepare_any_file(tmp_path, capsys):
    path = write_asdf_v5(
        tmp_path / "mine.mat", [np.arange(1, 30000, 7), np.arange(5, 30000, 3)], n_bins=30000
    )
    assert main(["prepare", str(path), "--n-units", "4"]) == 0
    assert "mine" in capsys.readouterr().out


def test_files_with_the_same_name_do_not_share_a_cached_preparation(tmp_path):
    from spikebridge.experiments.prepared import get_prepared

    paths = []
    for folder, step in (("a", 7), ("b", 3)):
        (tmp_path / folder).mkdir()
        paths.append(write_asdf_v5(tmp_path / folder / "rec.mat", [np.arange(1, 30000, step)], n_bins=30000))
    first, first_path = get_prepared(str(paths[0]))
    second, second_path = get_prepared(str(paths[1]))
    assert first_path != second_path and first.data_hash() != second.data_hash()
    assert second.fit.spike_fraction == pytest.approx(1 / 3, abs=1e-3)


def test_prepare_late_starting_file_prints_its_start(tmp_path, capsys):
    rng = np.random.default_rng(0)
    units = [np.sort(rng.uniform(3600.0, 3700.0, 2000)) for _ in range(3)]
    path = write_mea_h5(tmp_path / "litke.h5", units, summary_duration=100.0)
    first = min(u[0] for u in units)
    assert main(["prepare", str(path), "--n-units", "3", "--train", "60", "--test", "30"]) == 0
    out = capsys.readouterr().out
    assert f"window starts at {first:.3f} s on the recording's clock" in out
    assert f"its first spike ({first:.3f} s; the file gives no start) + 0 s skipped" in out
    assert "0 silent in train" in out
    assert "spike fraction 0.00000" not in out


def test_datasets_show_takes_a_path(tmp_path, capsys):
    path = write_mea_h5(tmp_path / "m.h5", [[0.5, 1.5, 2.5], [1.0]], recordingtime=[0.0, 3.0])
    assert main(["datasets", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "n_units            2" in out and str(path) in out and "x_um" not in out
    assert "start s            0  (from the file); end 3 s" in out


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "spikebridge.cli.main", *args], capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["prepare", "no_such_recording"], "unknown recording 'no_such_recording'"),
        (["prepare", "/nonexistent/rec.mat"], "/nonexistent/rec.mat: file not found"),
        (["prepare", "slice_210511001", "--length", "9999"], "only 400.08 s are recorded"),
        (["datasets", "show", "nope"], "unknown recording 'nope'"),
        (["prepare", "{short}"], "short.mat: window of 20 s is too short; the minimum is 29.999 s"),
        (["prepare", "{short}", "--units", "good"], "option units does not apply to asdf recordings"),
    ],
)
def test_cli_errors_are_one_line(args, needle, tmp_path):
    short = write_asdf_v5(tmp_path / "short.mat", [np.arange(1, 20000, 9)], n_bins=20000)
    res = run_cli(*(a.format(short=short) for a in args))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0]


def test_failed_prepare_leaves_nothing_behind(tmp_path):
    bad = write_asdf_v5(tmp_path / "bad.mat", [[1, 2], [3]], n_bins=10, trailer=[3, 10])
    out = tmp_path / "out" / "p.npz"
    res = run_cli("prepare", str(bad), "--out", str(out))
    assert res.returncode == 2 and "trailer says 3 units" in res.stderr
    assert not out.exists()
    assert not list(tmp_path.rglob("*.npz"))


def test_unsupported_format(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("x")
    res = run_cli("prepare", str(other))
    assert res.returncode == 2 and "unsupported file type .txt" in res.stderr
