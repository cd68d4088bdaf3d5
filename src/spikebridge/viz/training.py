"""Training curves of fitted transformers (the seed paper's Fig. 2a-c, in our logged quantities)."""

from __future__ import annotations

import math


def _log_scale(series) -> bool:
    """A logarithmic axis suits losses that are all positive and spread over more than a factor of 20."""
    finite = [v for values in series for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 20


def plot_training_curves(histories: dict, title: str = "", colors: dict | None = None):
    """Training loss, validation loss and validation ROC-AUC per epoch, one line per history.

    Parameters
    ----------
    histories : dict of str to TrainingHistory
        Label (model or recording) -> its per-epoch record.
    title : str
    colors : dict of str to colour, optional
        Line colour per label (default: matplotlib's cycle).

    Notes
    -----
    Losses of different loss functions have different scales, so a loss axis is logarithmic when its
    values are positive and spread over more than a factor of 20. The kept (best) epoch is marked with a dot on the validation panels.
    """
    from spikebridge.viz.matrix import _mpl

    plt = _mpl()
    fig, (ax_tr, ax_val, ax_auc) = plt.subplots(1, 3, figsize=(12, 3.6))
    for k, (label, h) in enumerate(histories.items()):
        color = (colors or {}).get(label, f"C{k % 10}")
        ax_tr.plot(h.epochs, h.train_loss, color=color, lw=1.3, label=label)
        ax_val.plot(h.epochs, h.val_loss, color=color, lw=1.3)
        ax_auc.plot(h.epochs, h.val_auc, color=color, lw=1.3)
        ax_auc.plot(h.epochs, h.val_auc_unit_mean, color=color, lw=1.0, ls="--")
        if h.best_epoch is not None and h.best_epoch in h.epochs:
            i = h.epochs.index(h.best_epoch)
            ax_val.plot(h.epochs[i], h.val_loss[i], "o", color=color, ms=5)
            ax_auc.plot(h.epochs[i], h.val_auc[i], "o", color=color, ms=5)
    for ax, values in ((ax_tr, "train_loss"), (ax_val, "val_loss")):
        if _log_scale(getattr(h, values) for h in histories.values()):
            ax.set_yscale("log")
    ax_tr.set(xlabel="epoch", ylabel="loss", title="(a) training loss")
    ax_val.set(xlabel="epoch", ylabel="loss", title="(b) validation loss (dot: kept epoch)")
    ax_auc.set(xlabel="epoch", ylabel="ROC-AUC", title="(c) validation ROC-AUC")
    ax_auc.plot([], [], "k-", lw=1.3, label="pooled")
    ax_auc.plot([], [], "k--", lw=1.0, label="per-unit mean")
    ax_auc.axhline(0.5, color="0.6", lw=0.8, ls=":")
    ax_auc.legend(fontsize=7, loc="lower right")
    ax_tr.legend(fontsize=7, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
