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


def _print_table(title: str, header: list[str], rows: list[list]) -> None:
    table = Table(title=title)
    for col in header:
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(c) for c in row))
    console.print(table)


def print_section(data: dict) -> None:
    """The tables of one explanation's section data."""
    from spikebridge.report.explain import ABLATION_HEADER, CORR_HEADER

    console.print(f"[bold]{data['title']}[/bold]")
    for note in data["notes"]:
        console.print(f"  note: {note}")
    if data["peaks"]:
        _print_table("lag profiles (lag 1 = the most recent input bin)", ["profile", "peak lag", "per head"],
                     data["peaks"])  # fmt: skip
    if data["correlations"]:
        _print_table("correlation with firing rates: t-test of per-window Fisher z across test windows",
                     CORR_HEADER, data["correlations"])  # fmt: skip
    if data["influence"]:
        _print_table(f"influence vs {data['connections']}", ["method", "kind", "ROC-AUC", "pos", "neg"],
                     data["influence"])  # fmt: skip
    if data["ablations"]:
        _print_table("ablations (95% block-bootstrap intervals)", ABLATION_HEADER, data["ablations"])
    if data["stationarity"]:
        _print_table("ADF of population activity", ["recording", "preparation", "bin ms", "n", "ADF", "p"],
                     data["stationarity"])  # fmt: skip


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
    loss: str = typer.Option(
        "dice", help="Shipped mode: loss of the transformer explained (dice, the paper's)."
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
        body = _shipped(cfg, out, data_root, profile, loss, cross, executor)
    else:
        body = _single(checkpoint, recording, cfg, out, data_root, train_recording)
    from spikebridge.atomic import write_text_atomic
    from spikebridge.report.html import render

    minutes = (time.perf_counter() - start) / 60
    page = out / "explain.html"
    write_text_atomic(page, render("spikebridge: what the model learned", [("What the model learned", body)]))
    console.print(
        f"results store {out / 'results.sqlite'} (run 'explain'); report {page} ({minutes:.1f} min)"
    )


def _single(checkpoint, recording, cfg, out, data_root, train_recording) -> str:
    from spikebridge.experiments.explain import run_explain
    from spikebridge.report.explain import explain_section_data, explain_section_html, write_explain

    report = run_explain(
        checkpoint, recording, cfg, out, data_root, train_recording, console.print, progress=True
    )
    paths = write_explain(report, out, f"{report.source}__{report.target}")
    data = explain_section_data(report, paths, out)
    print_section(data)
    return explain_section_html(data)


def _shipped(cfg, out, data_root, profile, loss, cross, executor) -> str:
    from spikebridge.experiments.explain_study import explain_shipped
    from spikebridge.report.explain import shipped_section_data, shipped_section_html, write_shipped

    shipped = explain_shipped(
        cfg, out, data_root, profile=profile, log=console.print, loss=loss, cross=cross, executor=executor
    )
    shared, per_report = write_shipped(shipped, out)
    data = shipped_section_data(shipped, shared, per_report, out)
    for section in data["reports"]:
        print_section(section)
    if data["across"]:
        _print_table("across recordings (t-test of per-recording mean Fisher z; little power with few recordings)",
                     ["matrix", "axis", "rate", "n", "mean r", "t", "p"], data["across"])  # fmt: skip
    _print_table("ADF of population activity, every shipped spike recording",
                 ["recording", "preparation", "bin ms", "n", "ADF", "p"], data["stationarity"])  # fmt: skip
    _print_table("in vitro vs in vivo", ["bin ms", "n vitro", "n vivo", "median vitro", "median vivo",
                 "stationary vitro", "stationary vivo", "test", "p"], data["comparisons"])  # fmt: skip
    return shipped_section_html(data)


def register(app: typer.Typer) -> None:
    app.command("explain")(explain_cmd)
