"""``spikebridge evaluate``: every model and baseline side by side on one test part, with intervals."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from spikebridge.cli._console import console
from spikebridge.cli.data_commands import SAMPLING_RATE_HELP, UNITS_HELP, read_options
from spikebridge.report.html import EVAL_COLUMNS as COLUMNS
from spikebridge.report.html import TEST_HEADER, caption, format_metric, significance_rows, verdict


def print_report(report) -> None:
    """The side-by-side table and the significance tests of an EvaluationReport."""
    table = Table(title=f"{report.source} -> {report.target} test part", caption=caption(report))
    table.add_column("model")
    for _, label in COLUMNS:
        table.add_column(label, justify="right")
    for model, res in report.results.items():
        table.add_row(model, *(format_metric(res, key) for key, _ in COLUMNS))
    console.print(table)
    tests = Table(
        title="per-unit ROC-AUC: two-sided Wilcoxon signed-rank tests paired over units (Holm over the table)"
    )
    for col in TEST_HEADER:
        tests.add_column(col, justify="left" if col in ("model", "against", "verdict") else "right")
    for row in significance_rows(report.tests):
        tests.add_row(*(str(c) for c in row))
    console.print(tests)
    line = verdict(report)
    if line:
        console.print(line)


def evaluate_cmd(
    recording: str = typer.Argument(..., help="Recording the models are trained on (catalog name or path)."),
    target: str = typer.Option(None, help="Recording whose test part is scored (default: the same)."),
    models: str = typer.Option(
        ",".join(("transformer-dice", "transformer-focal", "transformer-bce", "rate", "history", "glm"))
    ),
    profile: str = typer.Option(
        "quick", help="Transformer profile: tiny (seconds, smoke tests) | quick (CPU) | paper (GPU)."
    ),
    epochs: int = typer.Option(None, help="Maximum epochs per transformer (default: the profile's)."),
    seed: int = typer.Option(0),
    n_boot: int = typer.Option(200, help="Block-bootstrap resamples for the 95% intervals."),
    n_units: int = typer.Option(128, help="Model columns."),
    recompute: bool = typer.Option(False, help="Refit models even when a fitted one is cached."),
    out: Path = typer.Option(Path("spikebridge-out/evaluate"), "--out"),
    data_root: Path = typer.Option(None, "--data-root"),
    sampling_rate: float = typer.Option(None, "--sampling-rate", help=SAMPLING_RATE_HELP),
    units: str = typer.Option(None, "--units", help=UNITS_HELP),
) -> None:
    """Score the transformer (each loss) and the baselines on one test part; store tidy rows and figures."""
    from spikebridge.experiments.evaluate import EvaluateConfig, run_evaluation
    from spikebridge.preprocess import PrepareConfig
    from spikebridge.report.evaluation import write_evaluation

    cfg = EvaluateConfig(
        source=recording,
        target=target,
        models=tuple(m.strip() for m in models.split(",") if m.strip()),
        profile=profile,
        seed=seed,
        max_epochs=epochs,
        n_boot=n_boot,
        prepare=PrepareConfig(n_units=n_units, read=tuple(read_options(sampling_rate, units).items())),
    )
    for m in cfg.models:
        cfg.spec(m)
    console.print(f"[bold]evaluate[/bold] {recording} -> {target or recording}: {', '.join(cfg.models)}")
    report = run_evaluation(cfg, out, data_root=data_root, recompute=recompute, log=console.print)
    print_report(report)
    json_path, fig_path = write_evaluation(report, out, f"{report.source}__{report.target}")
    console.print(
        f"results store {out / 'results.sqlite'} (run 'evaluate'); report {json_path}; figure {fig_path}"
    )


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_cmd)
