"""Realism of generated activity against a recording's held-out test part, between floor and ceiling.

Layout (``S`` = the generated trials' duration; the test part must hold ``2 S``):

- **reference**: the *last* ``S`` seconds of the recording's test part;
- **ceiling**: the *first* ``S`` seconds of the test part against the reference (real vs real, equal
  durations, no overlap);
- **model**: each generated trial against the reference. Trials start after the bins preceding the
  test part (:mod:`spikebridge.experiments.generation`), so each is the model's version of the
  ceiling's stretch;
- **floor**: the per-unit rate (Poisson) baseline fitted on the fit part, sampled for the same
  trials and duration; **glm**: the coupled history GLM fitted on the fit part and run forward from
  the same prefix (needs ``Baseline.simulate``). Baselines are sampled at temperature 1.

Only columns real in both the generated file and the recording are compared.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.data.generated import GeneratedSpikes
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.evaluation.realism import RealismConfig, metric_names
from spikebridge.evaluation.realism_compare import RealismAssessment, assess
from spikebridge.experiments.generation import prefix_bins
from spikebridge.experiments.store import ResultRow, ResultsStore
from spikebridge.preprocess.prepare import PrepareConfig, PreparedRecording

RUN = "realism"
PREFIX_BINS = 5000


@dataclass(frozen=True)
class RealismResult:
    """A realism assessment with what was compared."""

    model: str
    source: str
    target: str
    generated_file: str
    assessment: RealismAssessment
    notes: tuple[str, ...]
    provenance: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "source": self.source,
            "target": self.target,
            "generated_file": self.generated_file,
            "notes": list(self.notes),
            "provenance": self.provenance,
            **self.assessment.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RealismResult:
        """Inverse of :meth:`to_dict` (the assessment without its figures' numbers)."""
        return cls(data["model"], data["source"], data["target"], data["generated_file"],
                   RealismAssessment.from_dict(data), tuple(data["notes"]), dict(data["provenance"]))  # fmt: skip


def split_reference(prep: PreparedRecording, n_bins: int) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Reference (last ``n_bins`` of the test part) and ceiling stretch (first ``n_bins``), with labels."""
    test = prep.test
    if 2 * n_bins > test.n_bins:
        raise SpikebridgeDataError(
            f"{prep.info.name}: the test part ({test.duration:g} s) must hold twice the generated duration "
            f"({n_bins * test.bin_size:g} s); generate at most {test.duration / 2:g} s per trial"
        )
    a, b = test.t_stop - n_bins * test.bin_size, test.t_stop
    reference = f"test part, last {n_bins * test.bin_size:g} s ([{a:.3f}, {b:.3f}) s)"
    ceiling = f"test part, first {n_bins * test.bin_size:g} s ([{test.t_start:.3f}, {test.t_start + n_bins * test.bin_size:.3f}) s)"
    return test.data[-n_bins:], test.data[:n_bins], reference, ceiling


def trial_seed(seed: int, trial: int) -> int:
    """The integer seed of trial ``trial`` of a baseline simulation."""
    return int(np.random.SeedSequence([seed, trial]).generate_state(1)[0])


def simulate_baseline(baseline, prefix: np.ndarray, n_steps: int, trials: int, seed: int,
                      temperature: float = 1.0) -> np.ndarray:  # fmt: skip
    """``(trials, n_steps, N)`` bool samples of a fitted baseline run forward after ``prefix``.

    Uses ``baseline.simulate(prefix, n_steps, seed, temperature)``; a rate baseline without it is
    sampled directly (Bernoulli at its constant probabilities, logits divided by the temperature).
    """
    from spikebridge.baselines.rate import RateBaseline

    if callable(getattr(baseline, "simulate", None)):
        try:
            runs = [baseline.simulate(prefix, n_steps, seed=trial_seed(seed, k), temperature=temperature)
                    for k in range(trials)]  # fmt: skip
        except NotImplementedError as exc:
            raise SpikebridgeDataError(f"baseline {baseline.name!r} cannot be run forward ({exc})") from exc
        return np.stack([np.asarray(r, bool) for r in runs])
    if not isinstance(baseline, RateBaseline):
        raise SpikebridgeDataError(f"baseline {baseline.name!r} cannot be run forward (no simulate method)")
    p = baseline.predict_proba(prefix[-2:])[-1]  # (N,) constant probabilities, floor for silent units
    logit = np.log(p) - np.log1p(-p)
    p = 1.0 / (1.0 + np.exp(-logit / temperature))
    return np.stack([np.random.default_rng(trial_seed(seed, k)).random((n_steps, p.size)) < p
                     for k in range(trials)])  # fmt: skip


def can_simulate(name: str) -> bool:
    """True when the baseline ``name`` can be run forward (the rate baseline always can)."""
    from spikebridge.experiments.zoo import make_baseline

    baseline = make_baseline(name)
    return name == "rate" or callable(getattr(baseline, "simulate", None))


def _fitted_baseline(name: str, prep: PreparedRecording, out_dir: Path, seed: int):
    """Fit (or reuse from ``out_dir/models``) a baseline on the fit part; returns the fitted object."""
    import pickle

    from spikebridge.experiments.evaluate import fitted_model_dir
    from spikebridge.experiments.prepared import recording_key
    from spikebridge.experiments.zoo import ModelSpec, fit_model

    spec = ModelSpec.parse(name, seed=seed)
    model_dir = fitted_model_dir(out_dir, recording_key(prep.info.name), spec)  # shared with `evaluate`
    meta = model_dir / "model.json"
    payload = json.loads(meta.read_text()) if meta.is_file() else {}
    if payload.get("spec") != spec.to_dict() or payload.get("data_hash") != prep.data_hash():
        fit_model(spec, prep, model_dir)
    return pickle.loads((model_dir / "baseline.pkl").read_bytes())


def _columns(gen: GeneratedSpikes, prep: PreparedRecording, target: str) -> tuple[np.ndarray, list[str]]:
    notes = []
    if gen.n_units != prep.selection.n_columns:
        raise SpikebridgeDataError(
            f"{gen.info.source}: {gen.n_units} generated columns, but {target} was prepared with "
            f"{prep.selection.n_columns}"
        )
    prefix = gen.metadata.get("prefix_recording")
    if prefix and prefix != target:
        notes.append(
            f"generated after a prefix of {prefix}, compared with {target}: columns are rank-matched"
        )
        warnings.warn(notes[-1], stacklevel=3)
    mask = gen.unit_mask & prep.unit_mask
    if mask.sum() < 3:
        raise SpikebridgeDataError(f"{gen.info.source}: fewer than 3 columns are real in both files")
    if mask.sum() < prep.unit_mask.sum():
        notes.append(
            f"{int(prep.unit_mask.sum() - mask.sum())} real column(s) of {target} are not in the generated file"
        )
    return mask, notes


def run_realism(
    gen: GeneratedSpikes,
    target: str,
    out_dir: Path,
    data_root: Path | None = None,
    baselines: tuple[str, ...] = ("rate", "glm"),
    seed: int = 0,
    config: RealismConfig | None = None,
    log: Callable[[str], None] = print,
    models_dir: Path | None = None,
) -> RealismResult:
    """Assess ``gen`` against ``target``'s test part; write rows to ``out_dir/results.sqlite``.

    Baselines are fitted into (or reused from) ``models_dir/models`` (default ``out_dir``), the
    layout of ``spikebridge evaluate``.
    """
    from spikebridge.experiments.prepared import get_prepared, recording_key
    from spikebridge.experiments.zoo import BASELINES

    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise SpikebridgeConfigError(
            f"unknown baseline(s) {', '.join(unknown)}; known: {', '.join(BASELINES)}"
        )
    start = time.perf_counter()
    out_dir = Path(out_dir)
    prep, _ = get_prepared(target, PrepareConfig(n_units=gen.n_units), data_root=data_root)
    tkey = recording_key(target)
    mask, notes = _columns(gen, prep, tkey)
    reference, ceiling, ref_label, ceil_label = split_reference(prep, gen.n_bins)
    model = str(gen.metadata.get("model", "generated"))
    candidates = {model: ("model", gen.spikes[:, :, mask])}
    prefix = prefix_bins(prep, PREFIX_BINS)
    for name in baselines:
        if not can_simulate(name):
            notes.append(f"{name} left out: this version's {name} baseline has no simulate method")
            log(f"  {notes[-1]}")
            continue
        log(f"  {name}: fitting on {tkey} (or reusing) and running it forward")
        try:
            runs = simulate_baseline(_fitted_baseline(name, prep, Path(models_dir or out_dir), seed), prefix, gen.n_bins,
                                     gen.n_trials, seed)  # fmt: skip
        except SpikebridgeDataError as exc:
            notes.append(f"{name} left out: {exc}")
            log(f"  {notes[-1]}")
            continue
        candidates[name] = ("floor" if name == "rate" else "baseline", runs[:, :, mask])
    candidates["real"] = ("ceiling", ceiling[None][:, :, mask])
    log(f"  computing statistics of {sum(c[1].shape[0] for c in candidates.values())} rasters")
    assessment = assess(candidates, reference[:, mask], config, ref_label, ceil_label)
    result = RealismResult(model, str(gen.metadata.get("model_source", "")), tkey, gen.info.source,
                           assessment, tuple(notes), dict(gen.metadata))  # fmt: skip
    _store(result, prep, out_dir, time.perf_counter() - start)
    return result


def _store(result: RealismResult, prep: PreparedRecording, out_dir: Path, seconds: float) -> None:
    rows = []
    names = metric_names(RealismConfig(**result.assessment.config))
    data_hash = f"{result.provenance.get('prefix_data_hash', '')}:{prep.data_hash()}"
    for name, cand in result.assessment.candidates.items():
        config = {"role": cand.role, "n_trials": cand.n_trials, "realism": result.assessment.config,
                  "generated_file": result.generated_file, "reference": result.assessment.reference}  # fmt: skip
        source = result.source if cand.role == "model" else result.target  # baselines: fitted on the target
        for metric in names:
            rows.append(ResultRow(name, source, result.target, f"realism_{metric}", cand.mean[metric],
                                  config=config, data_hash=data_hash))  # fmt: skip
            rows.append(ResultRow(name, source, result.target, f"realism_{metric}_sd", cand.sd[metric],
                                  config=config, data_hash=data_hash))  # fmt: skip
    cell = f"{RUN}/{result.source}/{result.target}/{result.model}/{Path(result.generated_file).name}"
    ResultsStore(out_dir / "results.sqlite").write_cell(
        RUN, cell, rows, payload={"verdicts": [v.to_dict() for v in result.assessment.verdicts]},
        seconds=seconds,
    )  # fmt: skip
