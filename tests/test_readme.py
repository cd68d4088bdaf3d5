"""The README's result sections are the rendering of the committed study summary, never typed by hand."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from spikebridge.errors import SpikebridgeDataError
from spikebridge.report.readme import BEGIN, END, current_results, render_results, replace_results

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = ROOT / "docs" / "results" / "study_summary.json"


def test_readme_results_equal_the_rendered_summary():
    rendered = render_results(json.loads(SUMMARY.read_text()))
    assert current_results((ROOT / "README.md").read_text()) == rendered


def test_summary_is_small_and_holds_no_per_bin_data():
    assert SUMMARY.stat().st_size < 100_000
    assert "per_unit" not in SUMMARY.read_text() and "roc_curve" not in SUMMARY.read_text()


def _tiny_summary() -> dict:
    metrics = {"roc_auc_pooled": [0.9, 0.89, 0.91], "roc_auc_unit_mean": [0.53, 0.52, 0.54]}
    tests = [
        {"model": "transformer-bce", "against": "glm", "n": 120, "p_value": 0.001, "p_holm": 0.003,
         "effect": 0.009, "rank_biserial": 0.3, "note": ""},
        {"model": "transformer-dice", "against": "chance", "n": 120, "p_value": 1e-5, "p_holm": 1e-4,
         "effect": -0.014, "rank_biserial": -0.4, "note": ""},
    ]  # fmt: skip
    return {
        "schema": 1,
        "settings": {"profile": "quick", "seed": 0, "n_boot": 200},
        "package_version": "0.1.0", "git_commit": "abc", "created_at": "2026-01-01T00:00:00", "minutes": 12.0,
        "evaluations": [{
            "source": "rec", "target": "rec", "n_bins": 1000, "n_units": 4, "n_scored_units": 3, "n_spikes": 50,
            "chance": 0.0125, "level": 0.95, "n_boot": 200,
            "block": {"seconds": 5.0, "threshold": 0.1, "min_s": 1.0, "limited_by": "autocorrelation"},
            "models": {
                "transformer-bce": {"metrics": metrics, "bits_source": "model probabilities, uncalibrated"},
                "rate": {"metrics": {"roc_auc_pooled": [0.91, 0.9, 0.92], "roc_auc_unit_mean": [0.5, 0.5, 0.5]},
                         "bits_source": "model probabilities, uncalibrated"},
            },
            "tests": tests,
        }],
        "matrix": None,
    }  # fmt: skip


def test_sentences_come_from_the_verdict_rule():
    text = render_results(_tiny_summary())
    assert "On per-unit ROC-AUC, transformer-bce beats glm (median +0.009, p = 0.003)." in text
    assert "On per-unit ROC-AUC, transformer-dice is below chance (median -0.014, p = 0.0001)." in text
    assert "1 unit(s) without are left out" in text and "5.0 s blocks, the lag where" in text
    assert "| transformer-bce | 0.900 [0.890, 0.910] | 0.530 [0.520, 0.540] | - | - | - | - |" in text
    assert "(per-unit ROC-AUC 0.500), yet scores a pooled ROC-AUC of 0.910" in text
    flipped = copy.deepcopy(_tiny_summary())
    flipped["evaluations"][0]["tests"][0]["p_holm"] = 0.2
    assert "transformer-bce is level with glm" in render_results(flipped)


def test_markers_and_check_script(tmp_path):
    readme = f"# x\n\nintro\n\n{BEGIN}\nold text\n{END}\n\n## after\n"
    new = replace_results(readme, "new text\n")
    assert new == f"# x\n\nintro\n\n{BEGIN}\nnew text\n{END}\n\n## after\n"
    assert current_results(new) == "new text\n"
    with pytest.raises(SpikebridgeDataError, match="markers"):
        replace_results("no markers", "x")
    summary = tmp_path / "s.json"
    summary.write_text(json.dumps(_tiny_summary()))
    page = tmp_path / "README.md"
    page.write_text(readme)
    script = [sys.executable, str(ROOT / "scripts" / "render_readme.py"), "--summary", str(summary)]
    assert subprocess.run([*script, "--readme", str(page), "--check"], capture_output=True).returncode == 1
    assert subprocess.run([*script, "--readme", str(page)], capture_output=True).returncode == 0
    assert subprocess.run([*script, "--readme", str(page), "--check"], capture_output=True).returncode == 0
    assert "beats glm" in page.read_text() and page.read_text().endswith("## after\n")


def test_each_metric_gets_its_own_sentence():
    summary = _tiny_summary()
    summary["evaluations"][0]["tests"].append(
        {"model": "transformer-bce", "against": "glm", "metric": "bits_per_spike", "n": 120, "p_value": 1e-4,
         "p_holm": 1e-3, "effect": -0.04, "rank_biserial": -0.5, "note": ""}
    )  # fmt: skip
    text = render_results(summary)
    assert "On per-unit ROC-AUC, transformer-bce beats glm (median +0.009, p = 0.003)." in text
    assert "On per-unit bits/spike, transformer-bce loses to glm (median -0.040, p = 0.001)." in text


def test_run_time_sentence_names_the_cores_and_every_stage_of_this_run():
    from spikebridge.cli.study_commands import _stage_minutes

    stages = _stage_minutes({"recordings": 0.0, "evaluations": 30.0, "matrix": 330.0}, 930.0)
    assert stages == {"recordings": 0.5, "evaluations": 5.0, "matrix": 10.0}
    summary = {**_tiny_summary(), "minutes": 15.5, "cpu_cores": 2, "stage_minutes": stages}
    text = render_results(summary)
    assert (
        "The run took 15.5 min on 2 CPU cores (minutes per stage: recordings 0.5, evaluations 5.0, "
        "matrix 10.0)." in text
    )
    assert "The run took 12.0 min. " in render_results(_tiny_summary())  # an older summary: no stages
