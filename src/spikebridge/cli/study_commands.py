"""``spikebridge study``: reproduce the whole study on the shipped recordings into one output folder."""

from __future__ import annotations

from pathlib import Path

import typer

from spikebridge.catalog import load_catalog, resolve_data_root
from spikebridge.cli._console import console


def study_cmd(
    data_root: Path = typer.Option(None, "--data-root", help="Folder holding the recordings."),
    out: Path = typer.Option(Path("spikebridge-out/study"), "--out", help="Output folder of the study."),
) -> None:
    """Prepare every shipped spike recording under the protocol and summarise the splits."""
    from spikebridge.experiments.prepared import get_prepared

    root = resolve_data_root(data_root)
    names = [n for n, e in load_catalog().items() if e.kind == "spikes" and e.present(root)]
    out.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]study[/bold]: {len(names)} spike recordings from {root} -> {out}")
    for name in names:
        prep, path = get_prepared(name, data_root=root)
        s = prep.summary()
        frac = " / ".join(f"{s['spike_fraction'][k]:.4f}" for k in ("fit", "val", "test"))
        console.print(f"  {name:<28} {s['real_units']:>3} units  spike fraction train/val/test {frac}")


def register(app: typer.Typer) -> None:
    app.command("study")(study_cmd)
