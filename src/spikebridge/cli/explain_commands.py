"""``spikebridge explain``: what a trained model learned (attention, importance, influence, ablations,
stationarity), printed, plotted, stored and written as a report section.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from spikebridge.cli._console import console
from spikebridge.errors import SpikebridgeConfigError

ABLATION_SETS = ("none", "inference", "quick", "full")


def print_tables(title: str, notes, tables) -> None:
    """Print report :class:`~spikebridge.report.blocks.Table` blocks as rich tables."""
    console.print(f"[bold]{title}[/bold]")
    for note in notes:
        console.print(f"  note: {note}")
    for block in tables:
        table = Table(title=block.caption)
        for col in block.header:
            table.add_column(col)
        for row in block.text_rows():
            table.add_row(*row)
        console.print(table)


def _config(windows, influence_windows, max_lag, queries, ablations, epochs, n_boot, seed, connections,
            transpose):  # fmt: skip
    from spikebridge.experiments.explain import ExplainConfig
    from spikebridge.experiments.explain_ablations import AblationSettings

    if ablations not in ABLATION_SETS:
        raise SpikebridgeConfigError(
            f"--ablations must be one of {', '.join(ABLATION_SETS)}, got {ablations!r}"
        )
    settings = AblationSettings(
        n_queries=queries, retrain=ablations in ("quick", "full"),
        depths=(1, 2, 3, 4) if ablations == "full" else (1, 2, 4), epochs=epochs, n_boot=n_boot, seed=seed,
    )  # fmt: skip
    return ExplainConfig(
        attention_windows=windows, influence_windows=influence_windows, max_lag=max_lag,
        inference_ablations=ablations != "none", ablations=settings,
        connections=str(connections) if connections else None, transpose_connections=transpose,
    )  # fmt: skip


def explain_cmd(
    checkpoint: Path = typer.Argument(
        None, help="A best.ckpt; omit both arguments to explain the shipped models."
    ),
    recording: str = typer.Argument(
        None, help="Recording whose test part is analysed (catalog name or path)."
    ),
    train_recording: str = typer.Option(None, help="Recording the checkpoint was trained on (for re-fits)."),
    connections: Path = typer.Option(
        None, help="Connection matrix [pre, post] (npy, csv, mat) in unit order."
    ),
    transpose_connections: bool = typer.Option(False, help="The connection file stores [post, pre]."),
    windows: int = typer.Option(64, help="Test windows for attention and importance."),
    influence_windows: int = typer.Option(64, help="Test windows for the influence matrix."),
    max_lag: int = typer.Option(16, help="Lags (bins) summed in the influence matrix."),
    queries: int = typer.Option(2000, help="Query bins of the shuffle ablations."),
    ablations: str = typer.Option(
        "quick", help="none | inference | quick (refits: depths 1,2,4) | full (1-4)."
    ),
    ablation_epochs: int = typer.Option(5, help="Epoch budget of every re-fitted variant."),
    n_boot: int = typer.Option(200, help="Block-bootstrap resamples."),
    seed: int = typer.Option(0),
    profile: str = typer.Option("quick", help="Shipped mode: profile of the models fitted or reused."),
    models: str = typer.Option(
        "paper-dice,bridge-bce", help="Shipped mode: comma-separated models explained (fitted or reused)."
    ),
    cross: bool = typer.Option(False, help="Shipped mode: also explain each model on the other recordings."),
    executor: str = typer.Option("local", help="Shipped mode: local (a process per core) | ray | inline."),
    threads: int = typer.Option(
        1, help="Torch CPU threads (1 is fastest for small models on a busy machine)."
    ),
    out: Path = typer.Option(Path("spikebridge-out/explain"), "--out"),
    data_root: Path = typer.Option(None, "--data-root"),
) -> None:
    """What a model learned: attention maps and lag profile, gradient and attention-weighted importance and
    their correlation with firing rates, influence against known connections, ablations, ADF stationarity."""
    cfg = _config(windows, influence_windows, max_lag, queries, ablations, ablation_epochs, n_boot, seed,
                  connections, transpose_connections)  # fmt: skip
    if (checkpoint is None) != (recording is None):
        raise SpikebridgeConfigError("give both CHECKPOINT and RECORDING, or neither (shipped models)")
    import torch

    torch.set_num_threads(max(1, threads))
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    if checkpoint is None:
        section = _shipped(cfg, out, data_root, profile, models, cross, executor)
    else:
        section = _single(checkpoint, recording, cfg, out, data_root, train_recording)
    from spikebridge.report.blocks import Report
    from spikebridge.report.engine import write_report

    minutes = (time.perf_counter() - start) / 60
    page = write_report(Report("spikebridge: what the model learned", (section,)), out / "explain.html")
    console.print(
        f"results store {out / 'results.sqlite'} (run 'explain'); report {page} ({minutes:.1f} min)"
    )


def _single(checkpoint, recording, cfg, out, data_root, train_recording):
    from spikebridge.experiments.explain import run_explain
    from spikebridge.report.explain import explain_section, explain_tables, report_stem, write_explain

    report = run_explain(
        checkpoint, recording, cfg, out, data_root, train_recording, console.print, progress=True
    )
    paths = write_explain(report, out, report_stem(report))
    print_tables(f"{report.label}: {report.source} -> {report.target}", report.notes, explain_tables(report))
    return explain_section(report, paths)


def _shipped(cfg, out, data_root, profile, models, cross, executor):
    from spikebridge.experiments.explain_study import explain_shipped
    from spikebridge.experiments.zoo import parse_models
    from spikebridge.report.explain import explain_tables, shipped_section, shipped_tables, write_shipped

    names = tuple(spec.name for spec in parse_models(models, profile=profile))
    shipped = explain_shipped(cfg, out, data_root, profile=profile, log=console.print, models=names, cross=cross,
                              executor=executor)  # fmt: skip
    shared, per_report = write_shipped(shipped, out)
    for r in shipped.reports:
        print_tables(f"{r.label}: {r.source} -> {r.target}", r.notes, explain_tables(r))
    print_tables("across recordings and stationarity", (), shipped_tables(shipped))
    return shipped_section(shipped, shared, per_report)


def register(app: typer.Typer) -> None:
    app.command("explain")(explain_cmd)
