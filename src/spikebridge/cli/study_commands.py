"""``spikebridge study``: reproduce the whole study on the shipped recordings into one HTML report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from spikebridge.catalog import load_catalog, resolve_data_root
from spikebridge.cli._console import console

EVALUATED = ("slice_210511001", "ibl_NYU-40_2021-04-14_001")


def _datasets_section(root: Path) -> tuple[str, list[dict]]:
    from spikebridge.data.summary import summarize
    from spikebridge.experiments.prepared import get_prepared
    from spikebridge.report.html import _table

    rows, records = [], []
    for name, entry in load_catalog().items():
        if not entry.present(root):
            continue
        rec = entry.load(root)
        s = summarize(rec)
        row = {"name": name, "preparation": entry.preparation, "kind": entry.kind, **s.to_dict()}
        if entry.kind == "spikes":
            prep, _ = get_prepared(name, data_root=root, recording=rec)
            sm = prep.summary()
            row.update(
                {f"spike_fraction_{k}": v for k, v in sm["spike_fraction"].items()}, spans=sm["spans_s"]
            )
        records.append(row)
        rows.append([
            name, entry.preparation, s.n_units, f"{s.duration_s:.1f}",
            "-" if entry.kind == "calcium" else f"{s.mean_rate_hz:.2f}",
            "-" if entry.kind == "calcium" else f"{s.spike_fraction:.4f}",
            " / ".join(f"{row.get(f'spike_fraction_{k}', float('nan')):.4f}" for k in ("fit", "val", "test"))
            if entry.kind == "spikes" else "-",
        ])  # fmt: skip
    header = [
        "recording",
        "preparation",
        "units",
        "duration s",
        "rate Hz",
        "spiking bins",
        "train / val / test spike fraction",
    ]
    return _table(header, rows), records


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
    executor: str = typer.Option("local", help="Matrix executor: local | ray | inline."),
    address: str = typer.Option(None, help="Ray cluster address."),
    skip_matrix: bool = typer.Option(False, help="Only the datasets and the evaluation tables."),
    explain: bool = typer.Option(False, help="Add what the evaluated models learned (spikebridge explain)."),
) -> None:
    """Datasets, side-by-side evaluation (slice and in vivo), the cross-recording matrix, one HTML report."""
    from spikebridge.atomic import write_text_atomic
    from spikebridge.preprocess import PrepareConfig
    from spikebridge.report.html import render

    start = time.perf_counter()
    root = resolve_data_root(data_root)
    out.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]study[/bold] on {root} -> {out}")
    table_html, records = _datasets_section(root)
    sections = [("Recordings", table_html)]
    prep_cfg = PrepareConfig(n_units=n_units)
    names = evaluate or [n for n in EVALUATED if load_catalog()[n].present(root)]
    body = _evaluation_html(names, root, out, profile, n_boot, prep_cfg)
    sections.append(("Prediction of held-out test bins: models and baselines side by side", body))
    if explain:
        sections.append(("What the model learned", _explain_section(names, root, out, profile)))
    if not skip_matrix:
        recs = matrix or [n for n, e in load_catalog().items() if e.kind == "spikes" and e.present(root)]
        sections.append(
            (
                "Cross-recording generation matrix",
                _matrix_section(recs, root, out, profile, prep_cfg, executor, address),
            )
        )
    minutes = (time.perf_counter() - start) / 60
    sections.append(("Run", f"<p>Whole study: {minutes:.1f} min on this machine.</p>"))
    report_path = out / "report.html"
    write_text_atomic(report_path, render("spikebridge study report", sections))
    write_text_atomic(out / "datasets.json", json.dumps(records, indent=1, default=str))
    console.print(f"report: {report_path} ({minutes:.1f} min)")


def _evaluation_html(names, root: Path, out: Path, profile: str, n_boot: int, prep_cfg) -> str:
    """Evaluate every model on each recording; print the tables; return the report's HTML."""
    from spikebridge.cli.eval_commands import print_report
    from spikebridge.experiments.evaluate import EvaluateConfig, run_evaluation
    from spikebridge.report.evaluation import write_evaluation
    from spikebridge.report.html import evaluation_section, relative

    parts = []
    for name in names:
        console.print(f"[bold]evaluate[/bold] {name}")
        cfg = EvaluateConfig(source=name, profile=profile, n_boot=n_boot, prepare=prep_cfg)
        report = run_evaluation(cfg, out / "evaluate", root, log=console.print)
        print_report(report)
        _, fig_path = write_evaluation(report, out, report.source)
        parts.append(evaluation_section(report, relative(fig_path, out)))
    return "\n".join(parts)


def _explain_section(names, root: Path, out: Path, profile: str) -> str:
    """Explain the Dice transformer of every evaluated recording, reusing the evaluation's fitted models."""
    from spikebridge.experiments.explain import ExplainConfig
    from spikebridge.experiments.explain_study import explain_shipped
    from spikebridge.report.explain import shipped_section_data, shipped_section_html, write_shipped

    shipped = explain_shipped(ExplainConfig(), out / "explain", root, tuple(names), profile, console.print,
                              models_dir=out / "evaluate" / "models")  # fmt: skip
    shared, per_report = write_shipped(shipped, out / "explain")
    return shipped_section_html(shipped_section_data(shipped, shared, per_report, out))


def _matrix_section(
    recs, root: Path, out: Path, profile: str, prep_cfg, executor: str, address: str | None
) -> str:
    from spikebridge.experiments.matrix import MatrixConfig, MatrixRun
    from spikebridge.report.matrix import build_matrix_outputs

    config = MatrixConfig(recordings=tuple(recs), profile=profile, prepare=prep_cfg)
    run = MatrixRun(config, out / "matrix", root, log=console.print)
    stats = run.execute(executor=executor, address=address)
    return _matrix_html(build_matrix_outputs(run, stats), stats, out)


def _matrix_html(outputs: dict, stats: dict, out: Path) -> str:
    from spikebridge.report.html import _table, relative

    parts = [
        f"<p>{stats['computed']['fit']} fits and {stats['computed']['score']} scores computed, "
        f"{stats['skipped']} finished cells reused, in {stats['seconds'] / 60:.1f} min.</p>"
    ]
    for title, rows, models in outputs["tables"]:
        parts.append(f"<h3>{title}</h3>")
        parts.append(_table(["group", *models, "n cells"], [[g, *cells, n] for g, cells, n in rows]))
    parts += [f"<p>{line}</p>" for line in outputs["notes"]]
    for path in outputs["figures"]:
        rel = relative(path, out)
        parts.append(f"<p><a href='{rel}'>{rel}</a></p>" if rel.endswith(".html") else f"<img src='{rel}'>")
    return "\n".join(parts)


def register(app: typer.Typer) -> None:
    app.command("study")(study_cmd)
