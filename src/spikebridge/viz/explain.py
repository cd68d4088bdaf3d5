"""Figures of what a model learned (Fig. 4): attention maps, lag profiles, axis correlations, influence,
ablations and stationarity. Each ``plot_*`` takes result objects and draws; nothing is computed here.
"""

from __future__ import annotations

import numpy as np

from spikebridge.viz.matrix import PREP_COLORS, _mpl

CORR_ORDER = tuple(
    f"{m}|{a}|{r}"
    for m in ("attention", "weighted_importance")
    for a in ("query", "key")
    for r in ("input", "predicted")
)


def plot_attention_maps(layer, title: str = "", max_heads: int = 4):
    """Example per-head attention maps of one window, the mean attention and mean attention-weighted importance.

    Parameters
    ----------
    layer : LayerAttention
    """
    from matplotlib.colors import PowerNorm

    plt = _mpl()
    heads = min(layer.n_heads, max_heads)
    fig, axes = plt.subplots(1, heads + 2, figsize=(2.6 * (heads + 2), 2.9))
    panels = [(layer.example_attention[h], f"head {h} (one window)") for h in range(heads)]
    panels += [
        (layer.mean_attention, "A, mean over heads+windows"),
        (layer.mean_weighted, "W = |A x I^T|, mean"),
    ]
    for ax, (img, label) in zip(axes, panels, strict=True):
        vmax = float(np.nanmax(img)) if np.nanmax(img) > 0 else 1.0
        ax.imshow(img, cmap="magma", norm=PowerNorm(0.4, vmin=0.0, vmax=vmax), interpolation="nearest")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("key bin", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].set_ylabel("query bin", fontsize=7)
    fig.suptitle(title or f"layer {layer.layer}: attention maps", fontsize=9)
    fig.tight_layout()
    return fig


def plot_lag_profiles(analysis, influence=None, title: str = "", importance=None):
    """Mean attention (and W, influence, input-gradient importance) against the lag, with the peak marked.

    Parameters
    ----------
    analysis : AttentionAnalysis or None
    influence : InfluenceResult, optional
    importance : InputImportance, optional
    """
    plt = _mpl()
    n = (
        (len(analysis.layers) if analysis is not None else 0)
        + (influence is not None)
        + (importance is not None)
    )
    fig, axes = plt.subplots(1, max(n, 1), figsize=(4.2 * max(n, 1), 3.2), squeeze=False)
    axes = axes[0]
    for ax, layer in zip(axes, analysis.layers if analysis is not None else (), strict=False):
        mean = layer.attention_profile.mean(0)
        for h in range(layer.n_heads):
            ax.plot(
                layer.lags, layer.attention_profile[h], color="0.75", lw=0.7, label=None if h else "heads"
            )
        sem = layer.attention_profile_sem
        ax.fill_between(layer.lags, mean - sem, mean + sem, color="C0", alpha=0.25, lw=0)
        ax.plot(layer.lags, mean, color="C0", lw=1.5, label="A, head mean +/- SEM over windows")
        w = layer.importance_profile.mean(0)
        if np.nanmax(w) > 0:
            ax.plot(layer.lags, w / np.nanmax(w) * np.nanmax(mean), "C1--", lw=1, label="W (scaled)")
        ax.axvline(layer.peak_lag, color="C3", ls=":", lw=1, label=f"peak lag {layer.peak_lag}")
        ax.set(
            xlabel="lag (bins before the predicted bin)", ylabel="mean weight", title=f"layer {layer.layer}"
        )
        ax.legend(fontsize=7)
    if importance is not None:
        ax = axes[-1 - (influence is not None)]
        mean, sem = importance.profile, importance.profile_sem
        ax.fill_between(importance.lags, mean - sem, mean + sem, color="C4", alpha=0.25, lw=0)
        ax.plot(importance.lags, mean, "C4-o", ms=3, label="mean +/- SEM over windows")
        ax.axvline(importance.peak_lag, color="C3", ls=":", lw=1, label=f"peak lag {importance.peak_lag}")
        ax.set(
            xlabel="lag (bins)", ylabel="sum over units |d loss / d input|", title="input-gradient importance"
        )
        ax.legend(fontsize=7)
    if influence is not None:
        ax = axes[-1]
        lags = np.arange(1, influence.lag_profile.size + 1)
        ax.plot(lags, influence.lag_profile, "C2-o", ms=3)
        ax.axvline(influence.peak_lag, color="C3", ls=":", lw=1, label=f"peak lag {influence.peak_lag}")
        ax.set(xlabel="lag (bins)", ylabel="mean |d logit / d input|", title="influence")
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_correlations(tests_by_recording: dict, title: str = "", star_p: float = 0.01):
    """Mean correlation (r) of A and W with firing rates, per axis and rate, one bar per recording.

    Parameters
    ----------
    tests_by_recording : dict of str to list of CorrelationTest
        The per-recording t-tests across windows; a star marks two-sided p below ``star_p``.
    """
    plt = _mpl()
    names = list(tests_by_recording)
    x = np.arange(len(CORR_ORDER))
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for k, name in enumerate(names):
        by = {t.label: t for t in tests_by_recording[name]}
        vals = [by[c].mean_r if c in by else np.nan for c in CORR_ORDER]
        pos = x + (k - (len(names) - 1) / 2) * width
        ax.bar(pos, vals, width, label=name)
        for p, c, v in zip(pos, CORR_ORDER, vals, strict=True):
            if c in by and np.isfinite(by[c].p_value) and by[c].p_value < star_p:
                ax.text(p, v, "*", ha="center", va="bottom" if v >= 0 else "top", fontsize=10)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [c.replace("weighted_importance", "W").replace("attention", "A").replace("|", "\n")
                      for c in CORR_ORDER], fontsize=7)  # fmt: skip
    ax.set_ylabel("mean r (Fisher z averaged)")
    ax.set_title(
        title or f"correlation with firing rates (* p < {star_p}, two-sided t-test across windows)",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_influence(influence, glm_scores=(), title: str = ""):
    """The influence matrix ``[pre, post]`` and the ROC-AUC of model influence and GLM coupling by kind."""
    plt = _mpl()
    fig, (ax_m, ax_b) = plt.subplots(1, 2, figsize=(9, 3.9), gridspec_kw={"width_ratios": [1.1, 1]})
    mat = influence.matrix
    lim = float(np.nanpercentile(np.abs(mat), 99)) if np.isfinite(mat).any() else 1.0
    im = ax_m.imshow(mat, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    fig.colorbar(im, ax=ax_m, shrink=0.8, label="summed d logit(post) / d input(pre)")
    ax_m.set(xlabel="post (influenced unit)", ylabel="pre (influencing unit)", title="model influence")
    scores = [*influence.scores, *glm_scores]
    kinds = list(dict.fromkeys(s.kind for s in scores if np.isfinite(s.auc)))  # kinds the labels define
    methods = list(dict.fromkeys(s.method for s in scores))
    x = np.arange(len(kinds))
    for k, method in enumerate(methods):
        by = {s.kind: s.auc for s in scores if s.method == method}
        ax_b.bar(x + (k - 0.5) * 0.38, [by.get(kind, np.nan) for kind in kinds], 0.38, label=method)
    ax_b.axhline(0.5, color="k", ls="--", lw=0.8)
    ax_b.set_xticks(x, kinds)
    ax_b.set(ylim=(0, 1), ylabel="ROC-AUC over ordered pairs", title="against known connections")
    if scores:
        ax_b.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_ablations(rows, metric: str = "roc_auc_unit_mean", title: str = ""):
    """Bars of one metric with 95% intervals for every ablation row, grouped as listed."""
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    colors = {"intact": "C0", "inference": "C1", "shuffle": "C2", "retrained": "C4"}
    for yi, row in zip(y, rows, strict=True):
        m = row.metrics[metric]
        if m["value"] is None:
            continue
        err = None
        if m["ci_low"] is not None:
            err = [[m["value"] - m["ci_low"]], [m["ci_high"] - m["value"]]]
        ax.barh(yi, m["value"], xerr=err, color=colors.get(row.family, "C7"), capsize=2)
        p = (row.unit_test or {}).get("p_value")
        if p is not None:
            ax.text(m["value"], yi, f"  p={p:.2g}", va="center", fontsize=7)
    ax.set_yticks(y, [f"{r.condition} [{r.scoring}]" for r in rows], fontsize=7)
    ax.axvline(0.5, color="k", ls="--", lw=0.8)
    ends = [v for r in rows for v in (r.metrics[metric]["ci_low"], r.metrics[metric]["ci_high"],
                                      r.metrics[metric]["value"]) if v is not None]  # fmt: skip
    if ends:
        ax.set_xlim(min(min(ends), 0.5) - 0.02, max(max(ends), 0.5) + 0.08)  # room for the p labels
    ax.set_xlabel(f"{metric}, 95% interval; p: paired Wilcoxon over units vs the reference", fontsize=8)
    ax.set_title(title or "ablations", fontsize=9)
    fig.tight_layout()
    return fig


def plot_stationarity(rows, title: str = ""):
    """ADF statistic of every recording's population activity per bin size (filled: p < 0.05)."""
    plt = _mpl()
    bins = sorted({r.bin_ms for r in rows})
    fig, axes = plt.subplots(1, len(bins), figsize=(3.6 * len(bins), 3.6), squeeze=False)
    for ax, b in zip(axes[0], bins, strict=True):
        sel = [r for r in rows if r.bin_ms == b]
        for k, r in enumerate(sel):
            color = PREP_COLORS.get(r.preparation, "k")
            ax.scatter(k, r.statistic, color=color if r.stationary_05 else "white", edgecolor=color, s=40)
        ax.set_xticks(range(len(sel)), [r.recording for r in sel], rotation=70, fontsize=6)
        ax.set_title(f"{b:g} ms bins", fontsize=9)
    axes[0][0].set_ylabel("ADF statistic")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=p) for p, c in PREP_COLORS.items()
               if any(r.preparation == p for r in rows)]  # fmt: skip
    axes[0][0].legend(handles=handles, fontsize=7)
    fig.suptitle(
        title
        or "augmented Dickey-Fuller test of population activity (more negative: more stationary; "
        "filled: p < 0.05)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def plot_attention_interactive(layer, title: str = "attention maps", max_heads: int = 8):
    """Interactive (plotly) heatmaps of one layer's mean maps and, up to ``max_heads``, one window's heads.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    heads = min(layer.n_heads, max_heads)
    panels = [(layer.mean_attention, "A mean"), (layer.mean_weighted, "W mean")]
    panels += [(layer.example_attention[h], f"head {h}, one window") for h in range(heads)]
    cols = 2
    rows = (len(panels) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[p[1] for p in panels])
    for k, (img, _) in enumerate(panels):
        fig.add_trace(
            go.Heatmap(z=img, colorscale="Magma", showscale=False), row=k // cols + 1, col=k % cols + 1
        )
    for k in range(len(panels)):
        fig.update_yaxes(autorange="reversed", row=k // cols + 1, col=k % cols + 1)
    fig.update_layout(title=title, height=380 * rows, width=900)
    return fig
