"""Figures of the cross-recording matrix: heatmap (Fig. 3e), grouped bars (Fig. 3b), proximity map (Fig. 3f)."""

from __future__ import annotations

import numpy as np

PREP_COLORS = {"in_vitro": "#1f77b4", "in_vivo": "#d62728", "unknown": "#7f7f7f"}


def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_matrix_heatmap(summary, model: str, metric: str, title: str | None = None, cmap: str = "viridis"):
    """Heatmap of ``metric`` (rows: training recording, columns: generated recording).

    The in vitro / in vivo quadrants are separated by white lines.
    """
    plt = _mpl()
    mat = summary.matrix(model, metric)
    n = len(summary.names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    im = ax.imshow(mat, cmap=cmap)
    fig.colorbar(im, ax=ax, shrink=0.8, label=metric)
    ax.set_xticks(range(n), summary.names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), summary.names, fontsize=7)
    ax.set_xlabel("generated (target) recording")
    ax.set_ylabel("training (source) recording")
    n_vitro = sum(p == "in_vitro" for p in summary.preparations)
    if 0 < n_vitro < n:
        for pos in (n_vitro - 0.5,):
            ax.axhline(pos, color="white", lw=2)
            ax.axvline(pos, color="white", lw=2)
    for i in range(n):
        for j in range(n):
            if np.isfinite(mat[i, j]):
                ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=5, color="w")
    ax.set_title(title or f"{model}: {metric}")
    fig.tight_layout()
    return fig


def plot_group_bars(groups_by_model: dict[str, list], metric: str, reference: float | None = None):
    """Grouped bars (mean +/- SD) of the Table 2 groups, one bar per model within each group."""
    plt = _mpl()
    models = list(groups_by_model)
    group_names = [g.group for g in groups_by_model[models[0]]]
    x = np.arange(len(group_names))
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(9, 4))
    for k, model in enumerate(models):
        stats = groups_by_model[model]
        means = [s.mean for s in stats]
        sds = [s.sd if s.n > 1 else 0.0 for s in stats]
        ax.bar(x + (k - (len(models) - 1) / 2) * width, means, width, yerr=sds, capsize=2, label=model)
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1, label="chance")
    ax.set_xticks(x, group_names, rotation=20, ha="right")
    ax.set_ylabel(metric)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def _below_chance_pairs(pmap) -> list[tuple[int, int]]:
    """Index pairs (i, j), i != j, of the map's below-chance cells."""
    index = {n: i for i, n in enumerate(pmap.names)}
    return [(index[s], index[t]) for s, t, _ in pmap.below_chance if s != t]


def _title(pmap, title: str | None) -> str:
    return title or f"proximity map: {pmap.label} (distance 1/score)"


def plot_proximity(pmap, title: str | None = None):
    """Static 3-D scatter of a :class:`~spikebridge.analysis.proximity.ProximityMap`.

    The model and metric are named in the title; pairs with a cell below chance are joined by red
    dashed lines and counted in a footnote.
    """
    plt = _mpl()
    fig = plt.figure(figsize=(6.5, 5.5))
    ax = fig.add_subplot(projection="3d")
    pos = pmap.positions
    for prep in sorted(set(pmap.preparations)):
        idx = [i for i, p in enumerate(pmap.preparations) if p == prep]
        ax.scatter(*pos[idx].T, s=40, color=PREP_COLORS.get(prep, "k"), label=prep)
    for i, name in enumerate(pmap.names):
        ax.text(*pos[i], name, fontsize=6)
    pairs = _below_chance_pairs(pmap)
    for k, (i, j) in enumerate(pairs):
        ax.plot(*pos[[i, j]].T, color="red", ls="--", lw=0.8, label="cell below chance" if k == 0 else None)
    ax.set_title(f"{_title(pmap, title)}\nKruskal stress-1 = {pmap.stress1:.3f}", fontsize=9)
    if pmap.below_chance:
        fig.text(
            0.01, 0.01, f"{len(pmap.below_chance)} cell(s) below chance (0.5); worst: "
            f"{pmap.below_chance[0][0]} -> {pmap.below_chance[0][1]} {pmap.below_chance[0][2]:.3f}",
            fontsize=7, color="red",
        )  # fmt: skip
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_proximity_3d(pmap, title: str | None = None):
    """An interactive (plotly) 3-D scatter of a :class:`~spikebridge.analysis.proximity.ProximityMap`.

    The model and metric are named in the title; pairs with a cell below chance are joined by red
    dashed lines.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    for prep in sorted(set(pmap.preparations)):
        idx = [i for i, p in enumerate(pmap.preparations) if p == prep]
        fig.add_trace(
            go.Scatter3d(
                x=pmap.positions[idx, 0],
                y=pmap.positions[idx, 1],
                z=pmap.positions[idx, 2],
                mode="markers+text",
                text=[pmap.names[i] for i in idx],
                name=prep,
                marker={"size": 6, "color": PREP_COLORS.get(prep, "black")},
            )
        )
    for k, (i, j) in enumerate(_below_chance_pairs(pmap)):
        xyz = pmap.positions[[i, j]]
        fig.add_trace(
            go.Scatter3d(
                x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], mode="lines", line={"color": "red", "dash": "dash"},
                name="cell below chance", showlegend=k == 0,
            )
        )  # fmt: skip
    note = f"; {len(pmap.below_chance)} cell(s) below chance" if pmap.below_chance else ""
    fig.update_layout(title=f"{_title(pmap, title)} (Kruskal stress-1 = {pmap.stress1:.3f}{note})")
    return fig


def proximity_html(pmap, title: str | None = None) -> str:
    """An interactive (plotly) 3-D proximity map as a standalone HTML string (below-chance pairs in red)."""
    return plot_proximity_3d(pmap, title).to_html(include_plotlyjs=True, full_html=True)
