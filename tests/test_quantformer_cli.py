"""``spikebridge quantformer``: the stages and the study from the command line, on the shipped recordings."""

from __future__ import annotations

import json

import pytest

from spikebridge.cli.main import main
from spikebridge.experiments.store import ResultsStore


@pytest.mark.slow
def test_pretrain_then_finetune_reuses_the_backbone(tmp_path, data_root, capsys):
    out = tmp_path / "qf"
    common = ["--out", str(out), "--profile", "tiny", "--data-root", str(data_root)]
    assert main(["quantformer", "pretrain", "suite2p_calcium", *common]) == 0
    first = capsys.readouterr().out
    assert "pretrain.ckpt" in first and "perplexity" in first
    assert main(["quantformer", "finetune", "suite2p_calcium", "--task", "forecast", *common]) == 0
    second = capsys.readouterr().out
    assert "pretrain: reusing" in second and "forecast.ckpt" in second
    finished = ResultsStore(out / "results.sqlite").finished_cells("quantformer")
    assert {c.rsplit("/", 1)[1] for c in finished} == {"pretrain", "forecast"}


@pytest.mark.slow
def test_study_on_suite2p_and_a_spike_recording(tmp_path, data_root, capsys):
    out = tmp_path / "study"
    args = ["quantformer", "study", "--source", "suite2p_calcium", "--source", "slice_210511001", "--out", str(out),
            "--profile", "tiny", "--n-boot", "50", "--spike-units", "16", "--data-root", str(data_root)]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    for model in ("quantformer", "mean", "copy-last", "psth", "ridge", "lstm"):
        assert model in text
    report = (out / "quantformer_report.html").read_text()
    assert "suite2p_calcium" in report and "slice_210511001" in report and "Pearson r" in report
    summary = json.loads((out / "quantformer.json").read_text())
    modalities = {r["name"]: r["modality"] for r in summary["results"]}
    assert modalities == {"suite2p_calcium": "calcium", "slice_210511001": "spikes"}
    suite2p = next(r for r in summary["results"] if r["name"] == "suite2p_calcium")
    assert suite2p["meta"]["neurons"] == 20 and suite2p["meta"]["frame_rate"] == 30.0  # iscell picks 20 ROIs
    rows = ResultsStore(out / "results.sqlite").rows("quantformer", metric="forecast/raw/pearson")
    assert {r["model"] for r in rows} == {"quantformer", "mean", "copy-last", "psth", "ridge", "lstm"}
    assert (out / "figures").is_dir() and any(p.suffix == ".png" for p in (out / "figures").iterdir())
    assert main(args) == 0  # resumes: both sources are read back from the store
    assert capsys.readouterr().out.count("read back from the store") == 2


def test_unknown_stage_and_bad_source_are_one_line_errors(tmp_path, capsys):
    code = main(["quantformer", "finetune", "calcium-sim", "--task", "dance", "--out", str(tmp_path)])
    assert code == 2 and "unknown stage" in capsys.readouterr().err
    code = main(["quantformer", "pretrain", "no_such_recording", "--out", str(tmp_path)])
    assert code == 2 and "no_such_recording" in capsys.readouterr().err
