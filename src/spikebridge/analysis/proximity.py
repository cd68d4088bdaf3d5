"""The 3-D proximity map of recordings (the seed paper's Fig. 3f / 4f).

Recordings that generate each other well sit close: the dissimilarity of i and j is the mean of
1/v(i -> j) and 1/v(j -> i), where v is a cross-recording score of one named model, and positions come
from metric multidimensional scaling (scikit-learn's SMACOF), which minimises the squared error between
map distances and dissimilarities, as the paper's energy function does. The fit is reported as
Kruskal's stress-1.

The paper used the pooled ROC-AUC, which mostly ranks units by firing rate (a model that knows nothing
about time scores about 0.9 on the slice). The default here is the mean per-unit ROC-AUC, whose chance
level is 0.5 whatever the rates; optionally a score's margin over the target's own rate baseline,
recentred on 0.5. Cells below chance (v < 0.5) become the largest distances: they are listed in
``below_chance`` and flagged on the figures, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikebridge.errors import SpikebridgeDataError

CHANCE = 0.5
METRIC_LABELS = {
    "roc_auc_unit_mean": "mean per-unit ROC-AUC",
    "roc_auc_pooled": "pooled ROC-AUC",
    "roc_auc_unit_mean_margin_over_rate": "margin of the mean per-unit ROC-AUC over the target's rate baseline + 0.5",
    "roc_auc_pooled_margin_over_rate": "margin of the pooled ROC-AUC over the target's rate baseline + 0.5",
}


@dataclass(frozen=True)
class ProximityMap:
    """Positions of recordings in ``dims`` dimensions.

    Attributes
    ----------
    names : list of str
    preparations : list of str
    positions : ndarray, shape (n, 3)
    dissimilarity : ndarray, shape (n, n)
        Symmetrised 1/v, zero diagonal.
    stress1 : float
        Kruskal stress-1: sqrt(sum (d_ij - D_ij)^2 / sum d_ij^2) over pairs (0 = perfect).
    model : str
        The model whose cross-recording scores built the map.
    metric : str
        The score v (e.g. "roc_auc_unit_mean"; "... margin over rate + 0.5" for margins).
    below_chance : tuple of (source, target, value)
        Cells with v < 0.5, diagonal included (off-diagonal ones are the map's largest distances).
    """

    names: list[str]
    preparations: list[str]
    positions: np.ndarray
    dissimilarity: np.ndarray
    stress1: float
    model: str = ""
    metric: str = ""
    below_chance: tuple[tuple[str, str, float], ...] = ()

    @property
    def label(self) -> str:
        """E.g. "paper-focal, mean per-unit ROC-AUC"."""
        what = METRIC_LABELS.get(self.metric, self.metric)
        return f"{self.model}, {what}" if self.model else what

    def note(self) -> str:
        """A sentence on the cells below chance ("" when there are none)."""
        if not self.below_chance:
            return ""
        cells = ", ".join(f"{s} -> {t} {v:.3f}" for s, t, v in self.below_chance[:6])
        more = f" and {len(self.below_chance) - 6} more" if len(self.below_chance) > 6 else ""
        return (
            f"proximity map ({self.label}): {len(self.below_chance)} cell(s) below chance ({CHANCE:g}): "
            f"{cells}{more}; below chance the model predicts worse than knowing nothing, and these pairs "
            "sit far apart on the map"
        )

    def to_dict(self) -> dict:
        return {
            "names": list(self.names),
            "preparations": list(self.preparations),
            "positions": self.positions.tolist(),
            "dissimilarity": self.dissimilarity.tolist(),
            "stress1": self.stress1,
            "model": self.model,
            "metric": self.metric,
            "below_chance": [list(c) for c in self.below_chance],
        }


def dissimilarity_from_auc(auc: np.ndarray) -> np.ndarray:
    """Symmetrised inverse AUC with a zero diagonal; ``auc[i, j]`` = model of i scored on j."""
    auc = np.asarray(auc, dtype=np.float64)
    if auc.ndim != 2 or auc.shape[0] != auc.shape[1]:
        raise SpikebridgeDataError(f"AUC matrix must be square, got {auc.shape}")
    if np.any(~np.isfinite(auc)) or np.any(auc <= 0):
        raise SpikebridgeDataError("AUC matrix must be finite and positive to be inverted")
    inv = 1.0 / auc
    d = 0.5 * (inv + inv.T)
    np.fill_diagonal(d, 0.0)
    return d


def below_chance_cells(values: np.ndarray, names: list[str], chance: float = CHANCE) -> tuple:
    """(source, target, value) of every cell below ``chance``, worst first."""
    values = np.asarray(values, dtype=np.float64)
    rows, cols = np.nonzero(values < chance)
    cells = [(names[i], names[j], float(values[i, j])) for i, j in zip(rows, cols, strict=True)]
    return tuple(sorted(cells, key=lambda c: c[2]))


def stress1(positions: np.ndarray, dissimilarity: np.ndarray) -> float:
    """Kruskal's stress-1 of a configuration against target dissimilarities."""
    from scipy.spatial.distance import pdist, squareform

    dist = squareform(pdist(positions))
    iu = np.triu_indices_from(dissimilarity, k=1)
    num = np.sum((dist[iu] - dissimilarity[iu]) ** 2)
    den = np.sum(dist[iu] ** 2)
    return float(np.sqrt(num / den)) if den > 0 else 0.0


def proximity_map(
    auc: np.ndarray,
    names: list[str],
    preparations: list[str],
    dims: int = 3,
    seed: int = 0,
    *,
    model: str = "",
    metric: str = "roc_auc_unit_mean",
) -> ProximityMap:
    """Metric MDS of the symmetrised 1/v dissimilarities (positions are centred).

    Parameters
    ----------
    auc : ndarray, shape (n, n)
        ``auc[i, j]``: the score v of the model trained on recording i, on recording j's test part
        (an AUC, or a margin recentred on 0.5); chance is 0.5.
    names, preparations : list of str
    dims : int
    seed : int
    model, metric : str
        What ``auc`` holds, recorded in the map and named on its figures.
    """
    from sklearn.manifold import smacof

    d = dissimilarity_from_auc(auc)
    n = d.shape[0]
    if n < 2:
        raise SpikebridgeDataError("a proximity map needs at least two recordings")
    if n <= dims:
        dims = n - 1
    pos, _ = smacof(d, metric=True, n_components=dims, n_init=8, max_iter=3000, eps=1e-9, random_state=seed)
    pos = pos - pos.mean(axis=0)
    if dims < 3:
        pos = np.hstack([pos, np.zeros((n, 3 - dims))])
    below = below_chance_cells(auc, list(names))
    return ProximityMap(list(names), list(preparations), pos, d, stress1(pos, d), model, metric, below)


def margin_scores(values: np.ndarray, rate_values: np.ndarray) -> np.ndarray:
    """A score's margin over each target's own rate-baseline score, recentred on chance (0.5).

    ``values[i, j] - diag(rate_values)[j] + 0.5``: below 0.5 means worse than the target's rate baseline.
    """
    ref = np.diag(np.asarray(rate_values, dtype=np.float64))
    return np.asarray(values, dtype=np.float64) - ref[None, :] + CHANCE
