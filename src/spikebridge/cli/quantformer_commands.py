"""``spikebridge quantformer pretrain | finetune | evaluate | study``: QuantFormer on calcium and spike recordings.

All four share one output folder: a results store (run "quantformer"), checkpoints per source, and
finished stages are reused, so ``evaluate`` after ``finetune`` after ``pretrain`` trains nothing twice.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from spikebridge.cli._console import console

app = typer.Typer(help="QuantFormer: vector-quantized masked pre-training for calcium (and spike) forecasting.",
                  no_args_is_help=True)  # fmt: skip

OUT = typer.Option(
    Path("spikebridge-out/quantformer"), "--out", help="Output folder (store, checkpoints, report)."
)
DATA_ROOT = typer.Option(None, "--data-root", help="Folder holding the shipped recordings.")
PROFILE = typer.Option(
    "quick", help="tiny (tests) | quick (CPU, minutes) | paper (d 128, 6+6 layers, 8 heads)."
)
SEED = typer.Option(0, help="Seed of every fit.")
EPOCHS = typer.Option(None, help="Cap on the epochs of every stage (default: the profile's).")
MODE = typer.Option("fine", help="fine (tune the encoder copy too) | prompt (tokens and head only).")
FRAME_RATE = typer.Option(None, help="Frames per second of calcium files that do not store it (catalog: 30).")
ALL_ROIS = typer.Option(
    False, "--all-rois", help="Keep every suite2p ROI, not only those iscell marks as cells."
)
THREADS = typer.Option(1, help="Torch threads (1 is fastest for these small models on a shared CPU).")
SPIKE_UNITS = typer.Option(
    128, help="Spike recordings: the most active units kept (chosen on the train span)."
)
RECOMPUTE = typer.Option(False, help="Refit and rescore even when finished stages are stored.")
PROGRESS = typer.Option(False, help="Show Lightning's progress bars.")


def _config(
    sources, profile, seed, epochs, mode, frame_rate, all_rois, threads, classify=None, spike_units=128
):
    from dataclasses import replace

    from spikebridge.experiments.quantformer import DEFAULT_SOURCES, QuantFormerStudyConfig
    from spikebridge.experiments.quantformer_data import SourceConfig

    data = replace(SourceConfig(), frame_rate=frame_rate, cells_only=not all_rois, spike_units=spike_units)
    return QuantFormerStudyConfig(sources=tuple(sources or DEFAULT_SOURCES), profile=profile, data=data, seed=seed,
                                  max_epochs=epochs, mode=mode, threads=threads, classify=classify)  # fmt: skip


def _with_threads(threads: int):
    import torch

    torch.set_num_threads(threads)


def print_result(result) -> None:
    """The raw forecasting table, the classification table and the verdicts of one source."""
    from spikebridge.report.quantformer import _classify_table, _describe, _forecast_table

    console.print(f"[bold]{result.name}[/bold]: {_describe(result)}")
    for title, (header, rows) in (("forecasting (raw signals; mean [95% CI over neurons])", _forecast_table(result, "raw")),
                                  ("classification", _classify_table(result) if result.classify else (None, None))):  # fmt: skip
        if header is None:
            continue
        table = Table(title=title)
        for i, col in enumerate(header):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for line in result.verdicts:
        console.print(f"  {line}")


@app.command("pretrain")
def pretrain_cmd(
    source: str = typer.Argument(..., help="calcium-sim[:SEED], a catalog name, or a path."),
    out: Path = OUT, data_root: Path = DATA_ROOT, profile: str = PROFILE, seed: int = SEED, epochs: int = EPOCHS,
    frame_rate: float = FRAME_RATE, all_rois: bool = ALL_ROIS, threads: int = THREADS, recompute: bool = RECOMPUTE,
    progress: bool = PROGRESS,
) -> None:  # fmt: skip
    """Masked, quantized auto-encoding pre-training on one source's train windows."""
    from spikebridge.experiments.quantformer import fit_source

    cfg = _config([source], profile, seed, epochs, "fine", frame_rate, all_rois, threads)
    _with_threads(threads)
    stages = fit_source(source, cfg, out, ("pretrain",), data_root, recompute, console.print, progress)
    pre = stages["pretrain"]
    last = pre["history"][-1] if pre.get("history") else {}
    console.print(f"checkpoint {pre['checkpoint']} (best epoch {pre['best_epoch']}, validation loss "
                  f"{pre['best_val_loss']:.4g}; last validation perplexity {last.get('val_perplexity', float('nan')):.1f}, "
                  f"dead codes {last.get('val_dead_codes', '?')})")  # fmt: skip


@app.command("finetune")
def finetune_cmd(
    source: str = typer.Argument(..., help="calcium-sim[:SEED], a catalog name, or a path."),
    task: list[str] = typer.Option(["forecast"], help="forecast | classify | lstm (repeatable)."),
    out: Path = OUT, data_root: Path = DATA_ROOT, profile: str = PROFILE, seed: int = SEED, epochs: int = EPOCHS,
    mode: str = MODE, frame_rate: float = FRAME_RATE, all_rois: bool = ALL_ROIS, threads: int = THREADS,
    recompute: bool = RECOMPUTE, progress: bool = PROGRESS,
) -> None:  # fmt: skip
    """Tune the forecaster and/or classifier on a pre-trained backbone (pre-training first if needed)."""
    from spikebridge.experiments.quantformer import fit_source

    cfg = _config([source], profile, seed, epochs, mode, frame_rate, all_rois, threads)
    _with_threads(threads)
    stages = fit_source(source, cfg, out, ("pretrain", *task), data_root, recompute, console.print, progress)
    for name, payload in stages.items():
        console.print(f"{name}: {payload['checkpoint']} (best epoch {payload['best_epoch']} of "
                      f"{payload['epochs_run']}, validation loss {payload['best_val_loss']:.4g})")  # fmt: skip


@app.command("evaluate")
def evaluate_cmd(
    source: str = typer.Argument(..., help="calcium-sim[:SEED], a catalog name, or a path."),
    out: Path = OUT, data_root: Path = DATA_ROOT, profile: str = PROFILE, seed: int = SEED, epochs: int = EPOCHS,
    mode: str = MODE, frame_rate: float = FRAME_RATE, all_rois: bool = ALL_ROIS, threads: int = THREADS,
    classify: bool = typer.Option(None, "--classify/--no-classify", help="Default: when the source has stimuli."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples of the intervals."), spike_units: int = SPIKE_UNITS,
    recompute: bool = RECOMPUTE, progress: bool = PROGRESS,
) -> None:  # fmt: skip
    """Score QuantFormer and every baseline on one source's test windows; store the rows."""
    from dataclasses import replace

    from spikebridge.experiments.quantformer import run_quantformer_study

    cfg = replace(
        _config([source], profile, seed, epochs, mode, frame_rate, all_rois, threads, classify), n_boot=n_boot
    )
    study = run_quantformer_study(
        out, data_root, config=cfg, recompute=recompute, log=console.print, progress=progress
    )
    for result in study.results:
        print_result(result)
    console.print(f"results store {study.store} (run 'quantformer')")


@app.command("study")
def study_cmd(
    source: list[str] = typer.Option(None, "--source", help="Source (repeatable; default: simulator, suite2p, slice, in vivo)."),
    out: Path = OUT, data_root: Path = DATA_ROOT, profile: str = PROFILE, seed: int = SEED, epochs: int = EPOCHS,
    mode: str = MODE, frame_rate: float = FRAME_RATE, all_rois: bool = ALL_ROIS, threads: int = THREADS,
    n_boot: int = typer.Option(1000, help="Bootstrap resamples of the intervals."), spike_units: int = SPIKE_UNITS,
    recompute: bool = RECOMPUTE, progress: bool = PROGRESS,
    executor: str = typer.Option("local", help="Sources in parallel processes (local), Ray tasks (ray) or one after another (inline)."),
) -> None:  # fmt: skip
    """Every source: pre-training, forecasting (and classification with stimuli) against every baseline; one HTML report."""
    from dataclasses import replace
    from functools import partial

    from spikebridge.experiments.quantformer import run_quantformer_study
    from spikebridge.report.quantformer import write_figures, write_quantformer_report

    cfg = replace(
        _config(source, profile, seed, epochs, mode, frame_rate, all_rois, threads, None, spike_units),
        n_boot=n_boot,
    )
    draw = partial(write_figures, fig_dir=Path(out) / "figures")  # in the sources' processes
    study = run_quantformer_study(out, data_root, config=cfg, recompute=recompute, log=console.print,
                                  progress=progress, executor=executor, then=draw)  # fmt: skip
    for result in study.results:
        print_result(result)
    report = write_quantformer_report(study, out)
    console.print(
        f"report {report}; results store {study.store} (run 'quantformer'); {study.seconds / 60:.1f} min"
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="quantformer")
