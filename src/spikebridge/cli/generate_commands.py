"""``spikebridge generate`` and ``spikebridge realism``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from spikebridge.cli._console import console

DATA_ROOT = typer.Option(None, "--data-root", help="Folder holding the recordings (else $SPIKEBRIDGE_DATA).")


def generate_cmd(
    checkpoint: Path = typer.Argument(..., help="A best.ckpt written by `spikebridge fit`."),
    prefix: str = typer.Option(
        ..., "--prefix", help="Recording whose bins before its test part seed the generation (name or path)."
    ),
    seconds: float = typer.Option(60.0, "--seconds", help="Seconds generated per trial."),
    trials: int = typer.Option(1, "--trials", help="Independent trials."),
    temperature: float = typer.Option(1.0, help="Logits are divided by it before sampling."),
    seed: int = typer.Option(0, help="Sampling seed: the same seed gives the same spikes."),
    chunk: int = typer.Option(
        None, help="Bins between re-encodings once the context is full (default context/2)."
    ),
    engine: str = typer.Option("auto", help="auto | numpy | torch | recompute"),
    anchor_tau: float = typer.Option(
        None,
        "--anchor-tau",
        help="Bridge models: hold traces of time constants >= this many bins at their values after the "
        "prefix (rate anchoring; the study uses 1000). Default: off.",
    ),
    out: Path = typer.Option(..., "--out", help="Output file: .nwb (NWB Units) or .mat (asdf)."),
    data_root: Path = DATA_ROOT,
) -> None:
    """Free-running generation from a trained model, seeded with a real prefix; written as NWB or asdf."""
    import time

    from spikebridge.experiments.generation import GenerationRequest, generate_recording
    from spikebridge.io.generated import generated_format, write_generated

    generated_format(Path(out))  # refuse an unsupported suffix before any work
    request = GenerationRequest(
        str(checkpoint), prefix, seconds, trials, temperature, seed, chunk, engine, anchor_tau
    )
    start = time.perf_counter()
    gen = generate_recording(request, data_root=data_root, progress=True)
    seconds_taken = time.perf_counter() - start
    path = write_generated(gen, out)
    meta = gen.metadata
    console.print(
        f"[bold]generate[/bold] {meta['model']} (trained on {meta['model_source'] or '?'}) after a prefix of "
        f"{meta['prefix_recording']}: {gen.n_trials} trial(s) x {gen.trial_duration:g} s x {gen.n_units} columns "
        f"({int(gen.unit_mask.sum())} real), seed {seed}, temperature {temperature:g} -> {path}"
    )
    rate = gen.spikes[:, :, gen.unit_mask].mean() / gen.bin_size
    console.print(
        f"  context {meta['context']} bins, re-encoded every {meta['chunk']} bins; mean rate {rate:.2f} Hz "
        f"per real column; {gen.n_trials * gen.trial_duration / seconds_taken:.2f} simulated s per wall-clock s"
    )


def realism_cmd(
    generated: Path = typer.Argument(..., help="A file written by `spikebridge generate` (.nwb or .mat)."),
    recording: str = typer.Argument(..., help="Recording whose test part is the reference (name or path)."),
    baselines: str = typer.Option(
        "rate,glm", help="Baselines run forward beside the model (rate is the floor)."
    ),
    seed: int = typer.Option(0, help="Seed of the baselines' samples."),
    out: Path = typer.Option(Path("spikebridge-out/realism"), "--out", help="Folder: store, JSON, figures."),
    figures: bool = typer.Option(True, help="Write the raster and statistics figures."),
    data_root: Path = DATA_ROOT,
) -> None:
    """Generated vs held-out real activity on firing, ISI, Fano, correlations, population rate and CCGs."""
    from spikebridge.experiments.realism import run_realism
    from spikebridge.io.generated import read_generated
    from spikebridge.report.realism import write_realism

    gen = read_generated(generated)
    names = tuple(b.strip() for b in baselines.split(",") if b.strip())
    console.print(f"[bold]realism[/bold] {generated} against {recording}")
    result = run_realism(
        gen, recording, out, data_root=data_root, baselines=names, seed=seed, log=console.print
    )
    print_realism(result)
    paths = write_realism(result, out, figures=figures)
    console.print(
        f"results store {out / 'results.sqlite'} (run 'realism'); " + "; ".join(str(p) for p in paths)
    )


def print_realism(result) -> None:
    """The realism table (mean +/- SD over trials) and the verdict per statistic."""
    from spikebridge.report.realism import realism_tables

    tables = realism_tables(result)
    for title, header, rows in tables:
        table = Table(title=title)
        for i, col in enumerate(header):
            table.add_column(col, justify="left" if i == 0 or col == "verdict" else "right")
        for row in rows:
            table.add_row(*(str(c) for c in row))
        console.print(table)
    for note in result.notes:
        console.print(f"note: {note}")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
    app.command("realism")(realism_cmd)
