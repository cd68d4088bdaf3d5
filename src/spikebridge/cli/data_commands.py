"""``spikebridge datasets`` and ``spikebridge prepare``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from spikebridge.catalog import load_catalog, resolve_data_root
from spikebridge.cli._console import console
from spikebridge.data.summary import summarize
from spikebridge.errors import SpikebridgeError

datasets_app = typer.Typer(help="List the known recordings, or show one.", invoke_without_command=True)

DATA_ROOT = typer.Option(None, "--data-root", help="Folder holding the recordings (else $SPIKEBRIDGE_DATA).")
SAMPLING_RATE_HELP = (
    "Sampling rate (Hz) of sample-index spike times: phy/Kilosort folders without params.py or its "
    "sample_rate, asdf files storing samples."
)
UNITS_HELP = (
    "phy/Kilosort clusters to keep by curation label: good | good+mua | all (default: all but noise)."
)


@datasets_app.callback()
def datasets_cmd(ctx: typer.Context, data_root: Path = DATA_ROOT) -> None:
    """List every catalog recording with units, duration, mean rate and spiking-bin fraction."""
    if ctx.invoked_subcommand is not None:
        return
    root = resolve_data_root(data_root, required=False)
    table = Table(title=f"spikebridge recordings (data root: {root or 'none'})")
    for col in ("name", "prep.", "kind", "units", "duration s", "rate Hz", "spiking bins", "present"):
        table.add_column(col, justify="right" if col not in ("name", "prep.", "kind") else "left")
    with console.status("reading recordings...") as status:
        for entry in load_catalog().values():
            status.update(f"reading {entry.name}...")
            row = [entry.name, entry.preparation, entry.kind]
            if not entry.present(root):
                table.add_row(*row, "-", "-", "-", "-", "[red]missing[/red]")
                continue
            try:
                s = summarize(entry.load(root))
            except SpikebridgeError as exc:
                table.add_row(*row, "-", "-", "-", "-", f"[red]unreadable: {exc}[/red]")
                continue
            rate = "-" if entry.kind == "calcium" else f"{s.mean_rate_hz:.2f}"
            frac = "-" if entry.kind == "calcium" else f"{s.spike_fraction:.4f}"
            table.add_row(*row, str(s.n_units), f"{s.duration_s:.1f}", rate, frac, "yes")
    console.print(table)


@datasets_app.command("show")
def show_cmd(
    name: str = typer.Argument(..., help="A catalog name or the path of a recording file or folder."),
    data_root: Path = DATA_ROOT,
    sampling_rate: float = typer.Option(None, "--sampling-rate", help=SAMPLING_RATE_HELP),
    units: str = typer.Option(None, "--units", help=UNITS_HELP),
) -> None:
    """Print one recording in detail: metadata, file, reader options, summary and unit columns."""
    from spikebridge.catalog import get_entry, open_recording

    options = read_options(sampling_rate, units)
    if name in load_catalog():
        entry = get_entry(name)
        root = resolve_data_root(data_root, required=False)
        console.print(f"[bold]{entry.name}[/bold]  ({entry.preparation}, {entry.kind})")
        for key in ("species", "region", "lab", "session", "source", "reader"):
            console.print(f"  {key:<10} {getattr(entry, key)}")
        console.print(f"  {'options':<10} {json.dumps(entry.options)}")
        console.print(f"  {'window':<10} {json.dumps(entry.window)}")
        file = entry.file(root) if root else Path(entry.path)
        console.print(f"  {'file':<10} {file}  ({'present' if entry.present(root) else 'missing'})")
        if not entry.present(root):
            return
        rec = entry.load(root, **options)
    else:
        rec = open_recording(name, data_root, **options)
        console.print(f"[bold]{rec.info.name}[/bold]  ({rec.info.preparation})")
        console.print(f"  {'file':<10} {rec.info.source}")
        for key, value in rec.info.extra.items():
            console.print(f"  {key:<10} {value}")
    _print_recording(rec)


def _print_recording(rec) -> None:
    for key, value in summarize(rec).to_dict().items():
        console.print(f"  {key:<18} {value:.4g}" if isinstance(value, float) else f"  {key:<18} {value}")
    if getattr(rec, "times", None) is not None:
        rule = "from the file" if rec.t_start is not None else "the first spike (the file gives none)"
        console.print(f"  {'start s':<18} {rec.start:.4g}  ({rule}); end {rec.duration:.4g} s")
    meta = getattr(rec, "unit_meta", {})
    if meta:
        console.print(f"  {'unit columns':<18} {', '.join(sorted(meta))}")


def read_options(sampling_rate: float | None, units: str | None) -> dict:
    """Reader options from the command line (only those given)."""
    return {k: v for k, v in (("sampling_rate", sampling_rate), ("units", units)) if v is not None}


def prepare_cmd(
    recording: str = typer.Argument(
        ..., help="A catalog name or the path of a recording in any supported format."
    ),
    data_root: Path = DATA_ROOT,
    out: Path = typer.Option(None, "--out", help="Output .npz (default: the cache, spikebridge-out/cache)."),
    n_units: int = typer.Option(128, help="Model columns (units), padded with masked silent columns."),
    unit_rule: str = typer.Option("rate", help="Unit selection rule on the train part: rate | source."),
    skip: float = typer.Option(None, help="Seconds skipped at the start (default: the catalog's)."),
    length: float = typer.Option(None, help="Window length in s (default: 450 s, or the whole recording)."),
    train: float = typer.Option(300.0, help="Train part length in s (validation is carved from its end)."),
    test: float = typer.Option(150.0, help="Test part length in s."),
    val_fraction: float = typer.Option(0.1, help="Fraction of the train part used for validation."),
    bin_ms: float = typer.Option(1.0, help="Bin size in ms."),
    sampling_rate: float = typer.Option(None, "--sampling-rate", help=SAMPLING_RATE_HELP),
    units: str = typer.Option(None, "--units", help=UNITS_HELP),
) -> None:
    """Bin, window, split and standardise a recording; write the splits to a cache file."""
    from spikebridge.experiments.prepared import get_prepared, recording_key
    from spikebridge.preprocess import save_prepared

    config = make_prepare_config(
        recording, n_units, unit_rule, skip, length, train, test, val_fraction, bin_ms,
        read=read_options(sampling_rate, units),
    )  # fmt: skip
    prep, path = get_prepared(recording, config, data_root=data_root, refresh=True)
    if out is not None:
        path = save_prepared(prep, out)
    s = prep.summary()
    console.print(f"[bold]{recording_key(recording)}[/bold] -> {path}")
    start, skipped = s["recording_start_s"], s["window_start_s"] - s["recording_start_s"]
    origin = (
        f"the recording's start ({start:.3f} s)"
        if s["recording_start_rule"] == "recording start"
        else f"its first spike ({start:.3f} s; the file gives no start)"
    )
    console.print(
        f"  window starts at {s['window_start_s']:.3f} s on the recording's clock: {origin} + {skipped:g} s skipped"
    )
    quality = prep.info.extra.get("column_quality")
    if quality:
        labels = ", ".join(f"{n} {label}" for label, n in sorted(quality.items()))
        console.print(
            f"  columns by curation label: {labels} (units: {prep.info.extra.get('units', 'default')})"
        )
    console.print(
        f"  units: {s['source_units']} in the recording, {s['real_units']} real of {s['columns']} columns "
        f"({s['silent_train_units']} silent in train); multi-spike 1-bin cells: {s['multi_spike_cells']}"
    )
    for part in ("fit", "val", "test"):
        a, b = s["spans_s"][part]
        label = {"fit": "train", "val": "validation", "test": "test"}[part]
        console.print(
            f"  {label:<10} [{a:9.3f}, {b:9.3f}) s  {s['bins'][part]:>8} bins  "
            f"spike fraction {s['spike_fraction'][part]:.5f}"
        )
    console.print(f"  data hash {s['data_hash']}")


def make_prepare_config(
    recording, n_units, unit_rule, skip, length, train, test, val_fraction, bin_ms, read=None
):
    """A PrepareConfig from CLI options, defaulting the window to the catalog's entry."""
    from spikebridge.preprocess import PrepareConfig, WindowConfig

    catalog = load_catalog()
    window = dict(catalog[recording].window) if recording in catalog else {}
    if skip is not None:
        window["skip_s"] = skip
    if length is not None:
        window["length_s"] = length
    window.update(train_s=train, test_s=test, val_fraction=val_fraction, bin_size=bin_ms / 1000.0)
    return PrepareConfig(
        window=WindowConfig(**window), n_units=n_units, unit_rule=unit_rule, read=tuple((read or {}).items())
    )
