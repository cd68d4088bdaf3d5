"""``spikebridge fit`` and ``spikebridge predict``."""

from __future__ import annotations

from pathlib import Path

import typer

from spikebridge.cli._console import console
from spikebridge.errors import SpikebridgeConfigError

DATA_ROOT = typer.Option(None, "--data-root", help="Folder holding the recordings (else $SPIKEBRIDGE_DATA).")


def default_model_dir(recording: str, model: str, profile: str, seed: int) -> Path:
    from spikebridge.experiments.prepared import recording_key
    from spikebridge.experiments.zoo import ModelSpec, fitted_model_dir

    spec = ModelSpec.parse(model, profile=profile, seed=seed)
    return fitted_model_dir(Path("spikebridge-out"), recording_key(recording), spec)


def fit_cmd(
    recording: str = typer.Argument(..., help="Catalog name or path of the recording to train on."),
    model: str = typer.Option("bridge-bce", help="Model: bridge-<loss> (spikebridge's own) or paper-<loss>."),
    loss: str = typer.Option(None, help="Replace the model's loss: dice | focal | bce | wbce."),
    profile: str = typer.Option(
        "quick", help="tiny (seconds) | quick (CPU, about a minute) | paper (the paper's size; GPU)"
    ),
    n_units: int = typer.Option(128, help="Model columns (units)."),
    epochs: int = typer.Option(None, help="Maximum epochs (default: the profile's)."),
    seed: int = typer.Option(0, help="Random seed."),
    accelerator: str = typer.Option("auto", help="auto | cpu | gpu"),
    precision: str = typer.Option("32", help="32 | 16-mixed | bf16-mixed"),
    out: Path = typer.Option(None, "--out", help="Output folder (default spikebridge-out/models/NAME/...)."),
    data_root: Path = DATA_ROOT,
) -> None:
    """Train a neural model on a recording's train part; choose the best epoch on validation."""
    from spikebridge.experiments.prepared import get_prepared
    from spikebridge.experiments.zoo import LOSSES, ModelSpec, fit_model, train_config
    from spikebridge.preprocess import PrepareConfig

    settings = dict(
        profile=profile, seed=seed, max_epochs=epochs, accelerator=accelerator, precision=precision
    )
    spec = ModelSpec.parse(model, **settings)
    if loss is not None:
        if loss not in LOSSES:
            raise SpikebridgeConfigError(f"--loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        spec = ModelSpec(spec.architecture, loss, **settings)
    if not spec.is_neural:
        raise SpikebridgeConfigError(
            f"--model must be a neural model (bridge-<loss>, paper-<loss>), got {model!r}"
        )
    train_config(spec)  # validates accelerator and precision before any data is read
    prep, _ = get_prepared(recording, PrepareConfig(n_units=n_units), data_root=data_root)
    out = out or default_model_dir(recording, spec.name, profile, seed)
    console.print(
        f"[bold]fit[/bold] {spec.name} ({profile}) on {prep.info.name}: {prep.fit.n_bins} train bins, "
        f"{prep.val.n_bins} validation bins, {int(prep.unit_mask.sum())} units -> {out}"
    )
    payload = fit_model(spec, prep, out, progress=True)
    fit = payload["fit"]
    best = next(h for h in fit["history"] if int(h["epoch"]) == fit["best_epoch"])
    console.print(
        f"  best epoch {fit['best_epoch']} of {fit['epochs_run']} in {payload['seconds']:.0f} s; validation: "
        f"loss {best['val_loss']:.4f}, pooled ROC-AUC {best['val_auc']:.3f}, "
        f"per-unit ROC-AUC {best['val_auc_unit_mean']:.3f} (mean over units with a validation spike)"
    )
    console.print(f"  checkpoint {out / 'best.ckpt'}; per-epoch log {out / 'metrics.csv'}")


def predict_cmd(
    checkpoint: Path = typer.Argument(..., help="A best.ckpt written by `spikebridge fit`."),
    recording: str = typer.Argument(..., help="Catalog name or path of the recording to predict."),
    out: Path = typer.Option(None, "--out", help="Output .npz (default: beside the checkpoint)."),
    n_units: int = typer.Option(None, help="Model columns (default: the checkpoint's)."),
    data_root: Path = DATA_ROOT,
) -> None:
    """Teacher-forced one-step-ahead spike probabilities for a recording's test part.

    Every test bin is predicted from the bins before it (the end of the recording's training and
    validation parts included). A model with per-column parameters uses them only on the recording
    it was trained on.
    """
    import numpy as np

    from spikebridge.atomic import atomic_path
    from spikebridge.experiments.prepared import get_prepared, recording_key
    from spikebridge.experiments.scoring import predict_parts
    from spikebridge.preprocess import PrepareConfig
    from spikebridge.training.checkpoint import load_checkpoint
    from spikebridge.training.predict import load_model, predict_proba

    model = load_model(checkpoint)
    columns = n_units or model.config.n_units
    prep, _ = get_prepared(recording, PrepareConfig(n_units=columns), data_root=data_root)
    own = load_checkpoint(checkpoint).data_hash == prep.data_hash()
    mask = prep.unit_mask.copy()
    if hasattr(model, "unit_mask") and model.unit_mask.shape == mask.shape:
        mask &= model.unit_mask.cpu().numpy()
    _, probs = predict_parts(
        lambda r: predict_proba(model, r, progress=True, unit_mask=mask, columns=own), prep
    )
    out = out or checkpoint.parent / f"predict-{recording_key(recording)}.npz"
    with atomic_path(out, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            probs=probs,
            targets=prep.test.data,
            unit_mask=mask,
            t_first_target_s=np.float64(prep.test.t_start),
            bin_size_s=np.float64(prep.test.bin_size),
        )
    console.print(
        f"[bold]predict[/bold] {prep.info.name}: {probs.shape[0]} test bins x {probs.shape[1]} units -> {out} "
        f"(row t = P(spike at test bin t | earlier bins); {int(mask.sum())} columns read)"
    )


def register(app: typer.Typer) -> None:
    app.command("fit")(fit_cmd)
    app.command("predict")(predict_cmd)
