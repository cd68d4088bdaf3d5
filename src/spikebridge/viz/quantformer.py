"""Figures of the QuantFormer study: example forecasts, metric bars with intervals, codebook usage.

Each function draws what it is given (a SourceResult's dictionaries, or the arrays of its example
file) and computes nothing.
"""

from __future__ import annotations

import numpy as np

from spikebridge.viz.matrix import _mpl

COLORS = {"quantformer": "#d62728", "mean": "#7f7f7f", "copy-last": "#bcbd22", "psth": "#1f77b4",
          "ridge": "#2ca02c", "lstm": "#9467bd", "prior": "#1f77b4", "logistic": "#2ca02c"}  # fmt: skip


def plot_forecast_examples(examples: dict[str, np.ndarray], title: str = ""):
    """Recorded windows (black: baseline then response) and every model's forecast after the onset.

    Parameters
    ----------
    examples : dict
        ``baseline`` (k, L_b), ``response`` (k, L_f), ``forecast__<model>`` (k, L_f), ``neuron`` (k,),
        ``stimulus`` (k,), ``frame_rate`` and ``unit`` (as saved by the study).
    """
    plt = _mpl()
    base, resp = np.asarray(examples["baseline"]), np.asarray(examples["response"])
    k, lb, lf = base.shape[0], base.shape[1], resp.shape[1]
    rate = float(examples["frame_rate"])
    t = (np.arange(lb + lf) - lb) / rate  # seconds from the onset
    cols = min(3, k)
    rows = int(np.ceil(k / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    models = [key.split("__", 1)[1] for key in examples if key.startswith("forecast__")]
    for i, ax in enumerate(axes.ravel()):
        if i >= k:
            ax.axis("off")
            continue
        ax.plot(t, np.concatenate([base[i], resp[i]]), color="black", lw=1.0, label="recorded")
        for m in models:
            ax.plot(t[lb:], examples[f"forecast__{m}"][i], lw=1.1, color=COLORS.get(m), label=m)
        ax.axvline(0.0, color="k", ls=":", lw=0.8)
        ax.set_title(f"neuron {examples['neuron'][i]}, {examples['stimulus'][i]}", fontsize=8)
        ax.set_xlabel("s from onset", fontsize=8)
        ax.set_ylabel(str(examples["unit"]), fontsize=8)
        ax.tick_params(labelsize=7)
    axes.ravel()[0].legend(fontsize=6, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_metric_bars(
    forecast: dict[str, dict[str, dict]], keys: tuple[str, ...] = ("raw/mse", "raw/pearson"), title: str = ""
):
    """One panel per metric key: every model's mean with its 95% interval (``SourceResult.forecast``)."""
    plt = _mpl()
    models = list(forecast)
    fig, axes = plt.subplots(1, len(keys), figsize=(4.0 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes.ravel(), keys, strict=True):
        vals = [forecast[m][key] for m in models]
        y = np.array([np.nan if v["value"] is None else v["value"] for v in vals], dtype=float)
        lo = np.array([np.nan if v["ci_low"] is None else v["ci_low"] for v in vals], dtype=float)
        hi = np.array([np.nan if v["ci_high"] is None else v["ci_high"] for v in vals], dtype=float)
        err = np.vstack([np.nan_to_num(y - lo), np.nan_to_num(hi - y)])
        ax.bar(
            range(len(models)),
            np.nan_to_num(y),
            yerr=err,
            color=[COLORS.get(m, "#999") for m in models],
            capsize=3,
        )
        ax.set_xticks(range(len(models)), models, rotation=40, ha="right", fontsize=8)
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_codebook_usage(codebook: dict, title: str = ""):
    """Assignments per code on the train and test windows, with perplexity and dead codes."""
    plt = _mpl()
    k = int(codebook["codebook_size"])
    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    width = 0.4
    for shift, part in ((-width / 2, "train"), (width / 2, "test")):
        counts = np.asarray(codebook[part]["counts"], dtype=float)
        frac = counts / max(counts.sum(), 1.0)
        label = f"{part}: perplexity {codebook[part]['perplexity']:.1f}, dead {codebook[part]['dead_codes']}"
        ax.bar(np.arange(k) + shift, frac, width=width, label=label)
    ax.set_xlabel("code")
    ax.set_ylabel("fraction of patches")
    ax.legend(fontsize=7)
    ax.set_title(title or f"codebook usage (K = {k})", fontsize=9)
    fig.tight_layout()
    return fig
