"""``spikebridge study``: reproduce the whole study on the shipped recordings into one HTML report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from spikebridge.catalog import load_catalog, resolve_data_root
from spikebridge.cli._console import console

EVALUATED = ("slice_210511001", "ibl_NYU-40_2021-04-14_001")
# The study's matrix: spikebridge's model, the paper's transformer with the loss of its Table 2, and the
# baselines that could embarrass them (paper-focal stays in the evaluations; `spikebridge matrix` runs it too).
STUDY_MATRIX_MODELS = "bridge-bce,paper-dice,history,glm"
DATASET_FINGERPRINTS = "datasets_fingerprints.json"  # next to datasets.json: what each record was read from


def _read_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _dataset_records(root: Path, prep_cfg, out: Path) -> list[dict]:
    """One record per recording present under ``root``: its summary, and for spikes its prepared parts.

    Records are kept in ``out/datasets.json`` with a fingerprint of each recording's catalog entry,
    files (sizes and times), preparation and package version; a record whose fingerprint is unchanged
    is read back instead of reading the recording again.
    """
    from dataclasses import asdict

    from spikebridge import __version__
    from spikebridge.atomic import write_text_atomic
    from spikebridge.provenance import config_hash, path_fingerprint

    known = {r["name"]: r for r in _read_json(out / "datasets.json", []) if isinstance(r, dict)}
    prints = _read_json(out / DATASET_FINGERPRINTS, {})
    records, new_prints = [], {}
    for name, entry in load_catalog().items():
        if not entry.present(root):
            continue
        new_prints[name] = config_hash({"entry": asdict(entry), "files": path_fingerprint(entry.file(root)),
                                        "prepare": prep_cfg.to_dict(), "version": __version__})  # fmt: skip
        same = prints.get(name) == new_prints[name] and name in known
        records.append(known[name] if same else _dataset_record(name, entry, root, prep_cfg))
    write_text_atomic(out / "datasets.json", json.dumps(records, indent=1, default=str))
    write_text_atomic(out / DATASET_FINGERPRINTS, json.dumps(new_prints, indent=1))
    return records


def _dataset_record(name: str, entry, root: Path, prep_cfg) -> dict:
    """The record of one recording (read from ``root``), with its prepared parts for spike recordings."""
    from spikebridge.data.summary import summarize
    from spikebridge.experiments.prepared import get_prepared

    rec = entry.load(root)
    row = {"name": name, "preparation": entry.preparation, "kind": entry.kind, **summarize(rec).to_dict()}
    if entry.kind == "spikes":
        prep, _ = get_prepared(name, prep_cfg, data_root=root, recording=rec)
        sm = prep.summary()
        row.update({f"spike_fraction_{k}": v for k, v in sm["spike_fraction"].items()})
        row.update(spans=sm["spans_s"], data_hash=sm["data_hash"])
    return row


def study_cmd(
    data_root: Path = typer.Option(None, "--data-root", help="Folder holding the recordings."),
    out: Path = typer.Option(Path("spikebridge-out/study"), "--out", help="Output folder of the study."),
    evaluate: list[str] = typer.Option(
        None,
        "--evaluate",
        help="Recording to evaluate (repeatable; default: the slice and the in vivo session).",
    ),
    matrix: list[str] = typer.Option(
        None, "--matrix", help="Recording of the matrix (repeatable; default: every shipped spike recording)."
    ),
    profile: str = typer.Option("quick", help="Transformer profile: tiny | quick (CPU) | paper (GPU)."),
    n_units: int = typer.Option(128, help="Model columns."),
    n_boot: int = typer.Option(200, help="Bootstrap resamples of the evaluation tables."),
    executor: str = typer.Option(
        "local",
        help="Executor of the matrix cells, the evaluations and QuantFormer's sources: local | ray | inline"
        " (the evaluations run ray as local processes).",
    ),
    address: str = typer.Option(None, help="Ray cluster address."),
    skip_matrix: bool = typer.Option(False, help="Only the datasets and the evaluation tables."),
    matrix_models: str = typer.Option(
        STUDY_MATRIX_MODELS,
        help="Comma-separated models of the matrix (the rate baseline is always added; the evaluations "
        "always compare bridge-bce, paper-dice, paper-focal and the three baselines).",
    ),
    explain: bool = typer.Option(
        True, help="Add what the evaluated models learned (explain: paper-dice and bridge-bce)."
    ),
    explain_refits: bool = typer.Option(
        False,
        help="Explain: also re-fit the transformer's ablation variants (attention off, depths 1, 2, 4); "
        "off in the quick study for time, on in `spikebridge explain`.",
    ),
    quantformer: bool = typer.Option(
        True, help="Add QuantFormer forecasting on calcium and spike recordings (its quick profile)."
    ),
    realism_seconds: float = typer.Option(
        60.0, help="Seconds per generated trial in the realism section (at most half the test part; 0: none)."
    ),
) -> None:
    """Datasets, side-by-side evaluation (slice and in vivo), the cross-recording matrix, one HTML report."""
    from spikebridge.preprocess import PrepareConfig
    from spikebridge.report.engine import write_report
    from spikebridge.report.study import study_report
    from spikebridge.report.study_summary import study_summary, write_study_summary

    start = time.perf_counter()
    root = resolve_data_root(data_root)
    out.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]study[/bold] on {root} -> {out}")
    prep_cfg = PrepareConfig(n_units=n_units)
    planned = ["recordings", "evaluations", "matrix", "realism", "explain", "quantformer"]
    flags = [True, True, not skip_matrix, realism_seconds > 0, explain, quantformer]
    stage = _stages([p for p, on in zip(planned, flags, strict=True) if on], start)
    stage("recordings")
    records = _dataset_records(root, prep_cfg, out)
    seconds = {"recordings": time.perf_counter() - start}
    hashes = {r["name"]: r["data_hash"] for r in records if "data_hash" in r}
    configs = {"prepare": prep_cfg.to_dict()}
    names = evaluate or [n for n in EVALUATED if load_catalog()[n].present(root)]
    stage("evaluations")
    t0 = time.perf_counter()
    evaluations = _evaluations(names, root, out, profile, n_boot, prep_cfg, executor)
    seconds["evaluations"] = time.perf_counter() - t0  # wall clock: the recordings' units share the workers
    for e in evaluations:
        configs[f"evaluate {e.report.source}"] = e.report.config
    matrix_art = None
    if not skip_matrix:
        recs = matrix or [n for n, e in load_catalog().items() if e.kind == "spikes" and e.present(root)]
        stage("matrix")
        models = tuple(m.strip() for m in matrix_models.split(",") if m.strip())
        matrix_art, matrix_hashes = _matrix(recs, models, root, out, profile, prep_cfg, executor, address)
        hashes.update(matrix_hashes)
        seconds["matrix"], configs["matrix"] = matrix_art.stats["seconds"], matrix_art.config
    hashes.update(_missing_hashes(names, hashes, root, prep_cfg))
    capabilities = []
    if realism_seconds > 0:
        stage("realism")
        t0 = time.perf_counter()
        capabilities.append(_realism(names, root, out, profile, prep_cfg, realism_seconds))
        seconds["realism"] = time.perf_counter() - t0
    if explain:
        stage("explain")
        t0 = time.perf_counter()
        capabilities.append(_explain(names, root, out, profile, explain_refits))
        seconds["explain"] = time.perf_counter() - t0
    if quantformer:
        stage("quantformer")
        t0 = time.perf_counter()
        capabilities.append(
            _quantformer(root, out, "tiny" if profile == "tiny" else "quick", n_boot, executor, address)
        )
        seconds["quantformer"] = time.perf_counter() - t0
    seconds["whole study"] = time.perf_counter() - start
    report = study_report(
        records, evaluations, matrix_art, hashes, configs, seconds, capabilities=capabilities
    )
    report_path = write_report(report, out / "report.html")
    settings = {
        "profile": profile,
        "seed": 0,
        "n_boot": n_boot,
        "n_units": n_units,
        "skip_matrix": skip_matrix,
    }
    summary_path = write_study_summary(
        out / "study_summary.json",
        study_summary(
            [e.report for e in evaluations],
            matrix_art and matrix_art.outputs,
            matrix_art and matrix_art.stats,
            settings,
            seconds["whole study"] / 60,
            stage_minutes=_stage_minutes(stage.started, seconds["whole study"]),
        ),
    )
    console.print(
        f"report: {report_path} ({seconds['whole study'] / 60:.1f} min); results summary: {summary_path}"
    )


def _stages(names: list[str], start: float):
    """A function that prints "stage k/n: NAME (M min so far)" as each planned stage begins.

    ``announce.started`` keeps each stage's start (seconds since ``start``), for
    :func:`_stage_minutes`.
    """

    def announce(name: str) -> None:
        k = names.index(name) + 1
        so_far = time.perf_counter() - start
        announce.started[name] = so_far
        console.print(f"[bold]stage {k}/{len(names)}: {name}[/bold] ({so_far / 60:.1f} min so far)")

    announce.started = {}
    return announce


def _stage_minutes(started: dict[str, float], total: float) -> dict[str, float]:
    """Wall minutes of each stage, from the stages' start times (seconds, in run order) and the total."""
    names = list(started)
    ends = [started[n] for n in names[1:]] + [total]
    return {n: round((end - started[n]) / 60, 2) for n, end in zip(names, ends, strict=True)}


def _quantformer(root: Path, out: Path, profile: str, n_boot: int, executor: str = "local", address=None):
    """QuantFormer's section: its study over the default sources (in parallel processes with the local
    executor), resumed from ``out/quantformer``."""
    from dataclasses import replace
    from functools import partial

    from spikebridge.experiments.quantformer import QuantFormerStudyConfig, run_quantformer_study
    from spikebridge.report.quantformer import quantformer_section, write_figures

    cfg = replace(QuantFormerStudyConfig(profile=profile), n_boot=n_boot)
    draw = partial(write_figures, fig_dir=out / "quantformer" / "figures")  # in the sources' processes
    study = run_quantformer_study(
        out / "quantformer",
        root,
        config=cfg,
        log=console.print,
        executor=executor,
        address=address,
        then=draw,
    )
    return quantformer_section(study, out / "quantformer")


def _explain(names, root: Path, out: Path, profile: str, refits: bool):
    """What each evaluated recording's paper and bridge models learned, reusing the study's fitted models
    and, on a second run, the stored explanations."""
    from spikebridge.experiments.explain import ExplainConfig, with_ablations
    from spikebridge.experiments.explain_study import explain_shipped
    from spikebridge.report.explain import shipped_section, write_shipped

    cfg = with_ablations(ExplainConfig(), retrain=refits)
    shipped = explain_shipped(cfg, out / "explain", root, tuple(names), profile, console.print,
                              models_dir=out / "models")  # fmt: skip
    shared, per_report = write_shipped(shipped, out / "explain")
    return shipped_section(shipped, shared, per_report)


def _realism(names, root: Path, out: Path, profile: str, prep_cfg, seconds: float):
    """Generate 5 trials from each evaluated recording's bridge model (BCE); compare them with its test part.

    A recording whose checkpoint, data, generation and realism settings are unchanged since the last
    run with this ``out`` is read back, not recomputed (:mod:`spikebridge.experiments.realism_cache`).
    """
    from spikebridge.errors import SpikebridgeError
    from spikebridge.experiments.prepared import get_prepared, recording_key
    from spikebridge.experiments.zoo import ModelSpec, fitted_model_dir
    from spikebridge.report.realism import realism_section

    results, notes = [], []
    for name in names:
        key = recording_key(name)
        ckpt = fitted_model_dir(out, key, ModelSpec("bridge", "bce", profile=profile)) / "best.ckpt"
        prep = get_prepared(name, prep_cfg, data_root=root)[0]
        span = min(seconds, prep.test.duration / 2)
        if not ckpt.is_file() or span < 4.0:
            notes.append(
                f"{key}: no realism ({'no BCE model' if not ckpt.is_file() else 'test part under 8 s'})."
            )
            continue
        try:
            results.append(_realism_one(name, key, ckpt, prep.data_hash(), span, root, out))
        except SpikebridgeError as exc:
            notes.append(f"{key}: no realism ({exc}).")
    return realism_section(results, tuple(notes))


def _realism_one(name: str, key: str, ckpt: Path, data_hash: str, span: float, root: Path, out: Path):
    """(result, figure paths) of one recording's realism run, read back when its key is unchanged."""
    from spikebridge.experiments.generation import DEFAULT_ANCHOR_TAU, GenerationRequest, generate_recording
    from spikebridge.experiments.realism import run_realism
    from spikebridge.experiments.realism_cache import load_cached, realism_key, store_cached
    from spikebridge.io.generated import read_generated, write_generated
    from spikebridge.report.realism import write_realism

    folder = out / "realism"
    request = GenerationRequest(str(ckpt), name, span, trials=5, anchor_tau=DEFAULT_ANCHOR_TAU)
    cached = load_cached(folder, key, realism_key(request, data_hash, out, key))
    if cached is not None:
        console.print(f"[bold]realism[/bold] {key}: unchanged, read back from {folder}")
        return cached
    console.print(f"[bold]realism[/bold] {key}: 5 trials x {span:g} s")
    gen = generate_recording(request, root, progress=True)
    path = write_generated(gen, folder / f"generated_{key}.nwb")
    result = run_realism(read_generated(path), name, folder, root, log=console.print, models_dir=out)
    json_path, *figures = write_realism(result, folder)  # scored on the file as written
    store_cached(folder, key, realism_key(request, data_hash, out, key), json_path, figures)
    return result, figures


def _missing_hashes(names, known: dict, root: Path, prep_cfg) -> dict[str, str]:
    """Data hashes of evaluated recordings not in ``known`` (files given by path), from the prepared cache."""
    from spikebridge.experiments.prepared import get_prepared, recording_key

    missing = [n for n in names if recording_key(n) not in known]
    return {recording_key(n): get_prepared(n, prep_cfg, data_root=root)[0].data_hash() for n in missing}


def _evaluations(names, root: Path, out: Path, profile: str, n_boot: int, prep_cfg, executor: str):
    """Evaluate every model on each recording (all units of work on one executor); print the tables;
    return what the report needs."""
    from spikebridge.cli.eval_commands import print_report
    from spikebridge.experiments.evaluate import EvaluateConfig, run_evaluations
    from spikebridge.experiments.zoo import fitted_model_dir
    from spikebridge.report.evaluation import write_evaluation
    from spikebridge.report.study import EvaluationArtifacts, read_histories

    cfgs = [EvaluateConfig(source=name, profile=profile, n_boot=n_boot, prepare=prep_cfg) for name in names]
    executor = "local" if executor == "ray" else executor  # a dozen units of work: local processes suffice
    reports = run_evaluations(
        cfgs, out / "evaluate", root, log=console.print, models_root=out, executor=executor
    )
    artifacts = []
    for cfg, report in zip(cfgs, reports, strict=True):
        print_report(report)
        _, fig_path = write_evaluation(report, out, report.source)
        dirs = {m: fitted_model_dir(out, report.source, cfg.spec(m)) for m in cfg.models}
        artifacts.append(EvaluationArtifacts(report, fig_path, read_histories(dirs), report.seconds))
    return artifacts


def _matrix(recs, models, root: Path, out: Path, profile: str, prep_cfg, executor: str, address: str | None):
    """Run (or resume) the matrix; return what the report needs and the prepared recordings' hashes."""
    from spikebridge.experiments.matrix import MatrixConfig, MatrixRun
    from spikebridge.report.matrix import build_matrix_outputs
    from spikebridge.report.study import MatrixArtifacts, read_histories

    config = MatrixConfig(recordings=tuple(recs), models=models, profile=profile, prepare=prep_cfg)
    run = MatrixRun(config, out / "matrix", root, log=console.print, models_root=out)
    stats = run.execute(executor=executor, address=address)
    model = "paper-dice" if "paper-dice" in config.models else config.models[0]
    histories = read_histories({run.keys[r]: run.model_dir(r, model) for r in config.recordings})
    hashes = {run.keys[r]: p.data_hash() for r, p in run.preps.items()}
    return MatrixArtifacts(build_matrix_outputs(run, stats), stats, histories, config.to_dict()), hashes


def register(app: typer.Typer) -> None:
    app.command("study")(study_cmd)
