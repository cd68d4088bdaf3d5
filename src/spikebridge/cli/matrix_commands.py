"""``spikebridge matrix``: the cross-recording generation matrix, its Table 2 and its figures."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from spikebridge.cli._console import console

DEFAULT_MODELS = "bridge-bce,paper-dice,paper-focal,history,glm"


def matrix_cmd(
    recordings: list[str] = typer.Argument(
        None, help="Catalog names or paths (default: every shipped spike recording)."
    ),
    models: str = typer.Option(
        DEFAULT_MODELS, help="Comma-separated models; the rate baseline is always added."
    ),
    profile: str = typer.Option("quick", help="Neural model profile: tiny | quick | paper."),
    epochs: int = typer.Option(None, help="Maximum epochs per fit (default: the profile's)."),
    seed: int = typer.Option(0),
    n_units: int = typer.Option(128, help="Model columns."),
    n_boot: int = typer.Option(0, help="Bootstrap resamples per cell (0: point estimates)."),
    executor: str = typer.Option("local", help="local (processes) | ray | inline."),
    workers: int = typer.Option(None, help="Parallel workers (default: one per core)."),
    address: str = typer.Option(None, help="Ray cluster address (with --executor ray)."),
    out: Path = typer.Option(
        Path("spikebridge-out/matrix"), "--out", help="Output folder (store, models, figures)."
    ),
    data_root: Path = typer.Option(None, "--data-root"),
    figures: bool = typer.Option(True, help="Write the heatmaps, bars and proximity map."),
    proximity_model: str = typer.Option(
        None, help="Model of the proximity map (default: the first neural model of --models)."
    ),
    proximity_margin: bool = typer.Option(
        False, help="Proximity map from the per-unit ROC-AUC's margin over each target's rate baseline."
    ),
) -> None:
    """Train on each recording, generate every recording's test part, summarise as the paper's Table 2."""
    from spikebridge.catalog import load_catalog, resolve_data_root
    from spikebridge.experiments.matrix import MatrixConfig, MatrixRun
    from spikebridge.preprocess import PrepareConfig

    if not recordings:
        root = resolve_data_root(data_root)
        recordings = [n for n, e in load_catalog().items() if e.kind == "spikes" and e.present(root)]
    config = MatrixConfig(
        recordings=tuple(recordings),
        models=tuple(m.strip() for m in models.split(",") if m.strip()),
        profile=profile,
        seed=seed,
        max_epochs=epochs,
        n_boot=n_boot,
        prepare=PrepareConfig(n_units=n_units),
    )
    run = MatrixRun(config, out, data_root=data_root, log=console.print)
    console.print(
        f"[bold]matrix[/bold] {len(recordings)} recordings x {len(config.models)} models -> {out} ({config.run})"
    )
    stats = run.execute(executor=executor, workers=workers, address=address)
    console.print(
        f"computed {stats['computed']['fit']} fits ({stats['from_store']} more taken from the model store) and "
        f"{stats['computed']['score']} scores, "
        f"skipped {stats['skipped']} finished cells, in {stats['seconds'] / 60:.1f} min"
    )
    report_matrix(run, stats, figures, proximity_model, proximity_margin)


def report_matrix(
    run, stats: dict, figures: bool, proximity_model: str | None = None, proximity_margin: bool = False
) -> None:
    """Print Table 2 and seeds; write the summary JSON and figures next to the store."""
    from spikebridge.report.matrix import build_matrix_outputs

    outputs = build_matrix_outputs(
        run, stats, figures=figures, proximity_model_name=proximity_model, proximity_margin=proximity_margin
    )
    for title, rows, models in outputs["tables"]:
        table = Table(title=title)
        table.add_column("group")
        for m in models:
            table.add_column(m, justify="right")
        table.add_column("cells", justify="right")
        table.add_column("units scored", justify="right")
        for group, cells, n, units in rows:
            table.add_row(group, *cells, str(n), units)
        console.print(table)
    for line in outputs["notes"]:
        console.print(line)
    console.print(f"summary: {outputs['summary_path']}")
    for path in outputs["figures"]:
        console.print(f"figure: {path}")


def register(app: typer.Typer) -> None:
    app.command("matrix")(matrix_cmd)
