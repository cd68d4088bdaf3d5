"""The study's realism stage reads an unchanged run back and recomputes when a setting changes."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write_asdf_v5
from spikebridge.cli import study_commands
from spikebridge.experiments import generation, realism, realism_cache
from spikebridge.experiments.prepared import get_prepared, recording_key
from spikebridge.experiments.zoo import ModelSpec, fit_model, fitted_model_dir
from spikebridge.preprocess import PrepareConfig
from spikebridge.simulation import simulate


@pytest.fixture
def study_dir(tmp_path):
    """A 30 s recording (test part 10 s) with a tiny bridge model in the study's model store."""
    sim = simulate(n_units=8, n_bins=30000, regime="in_vitro", seed=5)
    units = [np.flatnonzero(sim.spikes[:, u]) + 1 for u in range(8)]
    rec = str(write_asdf_v5(tmp_path / "r0.mat", units, n_bins=30000))
    out = tmp_path / "study"
    prep = get_prepared(rec, PrepareConfig(n_units=8))[0]
    spec = ModelSpec("bridge", "bce", profile="tiny", max_epochs=1)
    fit_model(
        spec, prep, fitted_model_dir(out, recording_key(rec), ModelSpec("bridge", "bce", profile="tiny"))
    )
    return rec, out


def _counting(monkeypatch):
    """Count the generations and realism computations the stage starts."""
    calls = {"generate": 0, "realism": 0}

    def wrap(module, name):
        real = getattr(module, name)

        def counted(*args, **kwargs):
            calls["generate" if name == "generate_recording" else "realism"] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)

    wrap(generation, "generate_recording")
    wrap(realism, "run_realism")
    return calls


@pytest.mark.slow
def test_second_stage_run_computes_nothing_and_a_changed_setting_recomputes(study_dir, monkeypatch):
    rec, out = study_dir
    calls = _counting(monkeypatch)
    cfg = PrepareConfig(n_units=8)
    first = study_commands._realism([rec], None, out, "tiny", cfg, 5.0, "inline")
    assert calls == {"generate": 1, "realism": 1}
    record = realism_cache.record_path(out / "realism", "r0")
    stored = record.read_text()
    again = study_commands._realism([rec], None, out, "tiny", cfg, 5.0, "inline")
    assert calls == {"generate": 1, "realism": 1}  # read back: nothing generated or scored
    assert record.read_text() == stored
    (run1,), (run2,) = first.subsections, again.subsections
    assert run1 == run2  # the same table, notes and figures in the report
    study_commands._realism([rec], None, out, "tiny", cfg, 4.5, "inline")  # another duration: another key
    assert calls == {"generate": 2, "realism": 2}
    study_commands._realism([rec], None, out, "tiny", cfg, 4.5, "inline")
    assert calls == {"generate": 2, "realism": 2}


def test_key_changes_with_every_input(tmp_path):
    ckpt, pkl = tmp_path / "best.ckpt", tmp_path / "models" / "r0" / "rate-quick-s0" / "baseline.pkl"
    ckpt.write_bytes(b"weights")
    pkl.parent.mkdir(parents=True)
    pkl.write_bytes(b"rates")
    request = generation.GenerationRequest(str(ckpt), "r0", 5.0, trials=5, anchor_tau=1000.0)
    key = lambda req=request, data="abc": realism_cache.realism_key(req, data, tmp_path, "r0", ("rate",))  # noqa: E731
    base = key().digest
    assert key().digest == base and key().baselines == {"rate": realism_cache.file_hash(pkl)}
    changed = [
        key(data="abd"),
        key(generation.GenerationRequest(str(ckpt), "r0", 5.0, trials=5, anchor_tau=None)),
        key(generation.GenerationRequest(str(ckpt), "r0", 5.0, trials=5, anchor_tau=1000.0, seed=1)),
    ]
    assert len({k.digest for k in changed} | {base}) == 4
    ckpt.write_bytes(b"other weights")
    assert key().digest != base
    ckpt.write_bytes(b"weights")
    pkl.write_bytes(b"refitted rates")
    assert key().digest != base
    assert realism_cache.load_cached(tmp_path, "r0", key()) is None  # no record yet
