"""``spikebridge evaluate``: every model and baseline side by side on each test part, with intervals,
and one comparison table of a neural model against the time-aware baselines over recordings."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from spikebridge.cli._console import console
from spikebridge.cli.data_commands import SAMPLING_RATE_HELP, UNITS_HELP, read_options
from spikebridge.experiments.evaluate import DEFAULT_MODELS
from spikebridge.report.html import EVAL_COLUMNS as COLUMNS
from spikebridge.report.html import TEST_HEADER, caption, format_metric, significance_rows, verdict

TEST_TITLES = {
    "roc_auc": "per-unit ROC-AUC: two-sided Wilcoxon signed-rank tests paired over units (Holm over the evaluation)",
    "bits_per_spike": "per-unit bits/spike: two-sided Wilcoxon signed-rank tests paired over units (Holm over the evaluation)",
}  # fmt: skip


def print_report(report) -> None:
    """The side-by-side table and the significance tests of an EvaluationReport (one table per metric)."""
    table = Table(title=f"{report.source} -> {report.target} test part", caption=caption(report))
    table.add_column("model")
    for _, label in COLUMNS:
        table.add_column(label, justify="right")
    for model, res in report.results.items():
        table.add_row(model, *(format_metric(res, key) for key, _ in COLUMNS))
    console.print(table)
    for metric, title in TEST_TITLES.items():
        records = [t for t in report.tests if t.get("metric", "roc_auc") == metric]
        if not records:
            continue
        tests = Table(title=title)
        for col in TEST_HEADER:
            tests.add_column(col, justify="left" if col in ("model", "against", "verdict") else "right")
        for row in significance_rows(records):
            tests.add_row(*(str(c) for c in row))
        console.print(tests)
    line = verdict(report)
    if line:
        console.print(line)


def print_comparison(rows, baselines: tuple[str, ...]) -> None:
    """Two lines per recording (per-unit ROC-AUC, bits/spike): the model, the baselines, the paired
    two-sided Wilcoxon tests over units (median difference and p) and the verdict."""
    from spikebridge.experiments.compare import METRICS

    model = rows[0].model
    table = Table(
        title=f"{model} against {', '.join(baselines)} on each test part (Wilcoxon over units, two-sided)"
    )
    for col in ("recording", "units", "metric", model, *baselines, *(f"vs {b}: median diff (p)" for b in baselines),
                "verdict"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("recording", "metric", "verdict") else "right")
    for row in rows:
        by = {(c.baseline, c.metric): c for c in row.comparisons}
        for i, (key, _, label) in enumerate(METRICS):
            cells = [by[(b, key)] for b in baselines]
            table.add_row(
                row.recording if i == 0 else "", str(row.n_units) if i == 0 else "", label,
                f"{cells[0].model_value:.3f}", *(f"{c.baseline_value:.3f}" for c in cells),
                *(_effect(c) for c in cells), row.verdict if i == 0 else "",
                end_section=i == len(METRICS) - 1,
            )  # fmt: skip
    console.print(table)


def _effect(c) -> str:
    if c.effect is None or c.p_value is None:
        return "-"
    return f"{c.effect:+.4f} ({c.p_value:.2g})"


def evaluate_cmd(
    recordings: list[str] = typer.Argument(
        None, help="Recordings to evaluate, each on its own test part (catalog names or paths)."
    ),
    all_recordings: bool = typer.Option(False, "--all", help="Every shipped spike recording."),
    target: str = typer.Option(None, help="With one recording: score this recording's test part instead."),
    models: str = typer.Option(",".join(DEFAULT_MODELS), help="Comma-separated model names."),
    compare: str = typer.Option(
        None, help="Model compared with the baselines (default: the first neural one)."
    ),
    profile: str = typer.Option("quick", help="Neural model profile: tiny | quick | paper."),
    epochs: int = typer.Option(None, help="Maximum epochs per neural model (default: the profile's)."),
    seed: int = typer.Option(0),
    n_boot: int = typer.Option(200, help="Block-bootstrap resamples for the 95% intervals."),
    n_units: int = typer.Option(128, help="Model columns."),
    recompute: bool = typer.Option(False, help="Refit models even when a fitted one is cached."),
    out: Path = typer.Option(Path("spikebridge-out/evaluate"), "--out"),
    executor: str = typer.Option(
        "local", help="Where the models are fitted and scored: local (a process per core) | inline | ray."
    ),
    workers: int = typer.Option(None, help="Processes of the local executor (default: one per core)."),
    data_root: Path = typer.Option(None, "--data-root"),
    sampling_rate: float = typer.Option(None, "--sampling-rate", help=SAMPLING_RATE_HELP),
    units: str = typer.Option(None, "--units", help=UNITS_HELP),
) -> None:
    """Score every model side by side on each recording's test part; one comparison table over recordings."""
    from spikebridge.catalog import load_catalog, resolve_data_root
    from spikebridge.errors import SpikebridgeConfigError
    from spikebridge.experiments.evaluate import EvaluateConfig
    from spikebridge.preprocess import PrepareConfig

    if all_recordings:
        root = resolve_data_root(data_root)
        recordings = [n for n, e in load_catalog().items() if e.kind == "spikes" and e.present(root)]
    if not recordings:
        raise SpikebridgeConfigError("give at least one recording, or --all")
    if target and len(recordings) > 1:
        raise SpikebridgeConfigError("--target needs exactly one recording")
    prepare = PrepareConfig(n_units=n_units, read=tuple(read_options(sampling_rate, units).items()))
    configs = [
        EvaluateConfig(source=r, target=target, models=tuple(m.strip() for m in models.split(",") if m.strip()), profile=profile, seed=seed,
                       max_epochs=epochs, n_boot=n_boot, prepare=prepare)
        for r in recordings
    ]  # fmt: skip
    reports = _evaluate_all(configs, out, data_root, recompute, executor, workers)
    model, baselines = _comparison_models(configs[0], compare)
    if model is not None and baselines:
        from spikebridge.experiments.compare import compare_report

        rows = [compare_report(r, model, baselines) for r in reports]
        print_comparison(rows, baselines)
        _write_comparison(rows, out)


def _evaluate_all(configs, out: Path, data_root, recompute: bool, executor: str, workers: int | None):
    """Every evaluation's units of work on one executor; the tables (one recording) and files written."""
    from spikebridge.experiments.evaluate import run_evaluations
    from spikebridge.report.evaluation import write_evaluation

    console.print(f"[bold]evaluate[/bold] {', '.join(configs[0].models)} ({executor} executor)")
    reports = run_evaluations(configs, out, data_root=data_root, recompute=recompute, log=console.print,
                              executor=executor, workers=workers)  # fmt: skip
    for report in reports:
        if len(reports) == 1:
            print_report(report)
        json_path, fig_path = write_evaluation(report, out, f"{report.source}__{report.target}")
        console.print(f"{report.source} -> {report.target}: report {json_path}; figure {fig_path}")
    console.print(f"results store {out / 'results.sqlite'} (run 'evaluate')")
    return reports


def _comparison_models(cfg, compare: str | None) -> tuple[str | None, tuple[str, ...]]:
    """The compared model and the time-aware baselines present among the evaluated models."""
    from spikebridge.experiments.zoo import ModelSpec

    neural = [m for m in cfg.models if cfg.spec(m).is_neural]
    model = ModelSpec.parse(compare).name if compare else (neural[0] if neural else None)
    if model is not None and model not in cfg.models:
        from spikebridge.errors import SpikebridgeConfigError

        raise SpikebridgeConfigError(f"--compare {model} is not among the evaluated models")
    return model, tuple(b for b in ("history", "glm") if b in cfg.models)


def _write_comparison(rows, out: Path) -> None:
    import json

    from spikebridge.atomic import write_text_atomic

    path = out / "comparison.json"
    write_text_atomic(path, json.dumps([r.to_dict() for r in rows], indent=1, default=str))
    console.print(f"comparison table: {path}")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_cmd)
