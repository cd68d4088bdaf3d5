"""Figures of generated activity: rasters side by side, each statistic compared, distances per candidate."""

from __future__ import annotations

import numpy as np

from spikebridge.viz.matrix import _mpl

ROLE_COLORS = {"reference": "#222222", "ceiling": "#2ca02c", "floor": "#9467bd", "baseline": "#ff7f0e"}
MODEL_COLOR = "#1f77b4"


def _color(label: str) -> str:
    """Colour of a figure label: "reference (real)" or a candidate's "name (role)"."""
    if label.startswith("reference"):
        return ROLE_COLORS["reference"]
    role = label.rsplit("(", 1)[-1].rstrip(")")
    return ROLE_COLORS.get(role, MODEL_COLOR)


def plot_rasters(figures, title: str = ""):
    """Real vs generated rasters side by side (the paper's Fig. 3c/d, free running): one panel each.

    Parameters
    ----------
    figures : RealismFigures
        ``rasters`` holds a snippet ``(bins, units)`` per candidate; units are drawn top to bottom in
        column order (most active first).
    """
    plt = _mpl()
    names = list(figures.rasters)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 4.2), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names, strict=True):
        raster = figures.rasters[name]
        t, u = np.nonzero(raster)
        ax.scatter(t * figures.bin_size, u, s=0.6, marker="|", color=_color(name), linewidths=0.6)
        ax.set(title=name, xlabel="time (s)", xlim=(0, raster.shape[0] * figures.bin_size))
    axes[0].invert_yaxis()  # shared y: unit 0 (most active) at the top of every panel
    axes[0].set_ylabel("unit (most active first)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _scatter(ax, figures, field: str, label: str, log: bool = False) -> None:
    ref = getattr(figures, field)[figures.names[0]]  # the reference comes first
    for name in figures.names[1:]:
        ax.scatter(ref, getattr(figures, field)[name], s=6, alpha=0.7, color=_color(name), label=name)
    lims = np.nanpercentile(np.concatenate([getattr(figures, field)[n] for n in figures.names]), [0, 100])
    if np.all(np.isfinite(lims)):
        ax.plot(lims, lims, "k:", lw=0.8)
    if log:
        ax.set(xscale="log", yscale="log")
    ax.set(xlabel=f"{label}, reference", ylabel=f"{label}, candidate", title=label)


def plot_realism_statistics(figures, title: str = ""):
    """Each statistic of every candidate against the real reference (trial 0 of each).

    Panels: per-unit firing rate, CV of ISIs, Fano factor, pairwise correlations (candidate vs
    reference), population-count distribution, power spectrum of the population count, and the
    cross-correlograms of the most active pairs.
    """
    plt = _mpl()
    n_ccg = len(figures.pairs)
    fig, axes = plt.subplots(2, 4, figsize=(17, 8))
    ax = axes.ravel()
    _scatter(ax[0], figures, "rates", "firing rate (Hz)", log=True)
    _scatter(ax[1], figures, "cv", "CV of ISIs")
    _scatter(ax[2], figures, "fano", "Fano factor", log=True)
    _scatter(ax[3], figures, "corr", f"pairwise correlation, {figures.corr_bin_ms} ms")
    for name in figures.names:
        counts, prob = figures.pop_hist[name]
        ax[4].step(counts, prob, where="mid", color=_color(name), label=name)
        freqs, power = figures.psd[name]
        band = (freqs >= figures.psd_band_hz[0]) & (freqs <= figures.psd_band_hz[1])
        ax[5].loglog(freqs[band], power[band], color=_color(name), lw=1, label=name)
    ax[4].set(yscale="log", xlabel="population spikes per bin", ylabel="probability",
              title="population-count distribution")  # fmt: skip
    ax[5].set(xlabel="frequency (Hz)", ylabel="power", title="population-count spectrum")
    for k, axis in enumerate(ax[6:8]):
        for p in range(k, n_ccg, 2):
            for name in figures.names:
                axis.plot(figures.ccg_lags_ms, np.asarray(figures.ccg[name][p]) + 2.0 * (p // 2),
                          color=_color(name), lw=0.8)  # fmt: skip
        axis.set(xlabel="lag (ms)", ylabel="C(tau) + offset per pair",
                 title="cross-correlograms of the most active pairs")  # fmt: skip
    ax[0].legend(fontsize=7)
    ax[5].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_realism_distances(assessment, title: str = ""):
    """One panel per distance: every candidate's mean +/- SD over trials (the bar "real" is the ceiling)."""
    from spikebridge.evaluation.realism import RealismConfig, higher_is_better, metric_names

    plt = _mpl()
    metrics = metric_names(RealismConfig(**assessment.config))
    cands = list(assessment.candidates.values())
    cols = 4
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows))
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        x = np.arange(len(cands))
        means = [c.mean[metric] for c in cands]
        sds = [c.sd[metric] for c in cands]
        ax.bar(x, means, yerr=sds, color=[_color(f"{c.name} ({c.role})") for c in cands])
        ax.set_xticks(x, [c.name for c in cands], rotation=30, ha="right", fontsize=7)
        arrow = "higher is closer" if higher_is_better(metric) else "lower is closer"
        ax.set_title(f"{metric} ({arrow})", fontsize=8)
    for ax in axes.ravel()[len(metrics) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
