"""The 3-D proximity map of recordings (the seed paper's Fig. 3f / 4f).

Recordings that generate each other well sit close: the dissimilarity of i and j is the mean of
1/AUC(i -> j) and 1/AUC(j -> i), and positions come from metric multidimensional scaling
(scikit-learn's SMACOF), which minimises the squared error between map distances and
dissimilarities, as the paper's energy function does. The fit is reported as Kruskal's stress-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikebridge.errors import SpikebridgeDataError


@dataclass(frozen=True)
class ProximityMap:
    """Positions of recordings in ``dims`` dimensions.

    Attributes
    ----------
    names : list of str
    preparations : list of str
    positions : ndarray, shape (n, dims)
    dissimilarity : ndarray, shape (n, n)
        Symmetrised 1/AUC, zero diagonal.
    stress1 : float
        Kruskal stress-1: sqrt(sum (d_ij - D_ij)^2 / sum d_ij^2) over pairs (0 = perfect).
    """

    names: list[str]
    preparations: list[str]
    positions: np.ndarray
    dissimilarity: np.ndarray
    stress1: float

    def to_dict(self) -> dict:
        return {
            "names": list(self.names),
            "preparations": list(self.preparations),
            "positions": self.positions.tolist(),
            "dissimilarity": self.dissimilarity.tolist(),
            "stress1": self.stress1,
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


def stress1(positions: np.ndarray, dissimilarity: np.ndarray) -> float:
    """Kruskal's stress-1 of a configuration against target dissimilarities."""
    from scipy.spatial.distance import pdist, squareform

    dist = squareform(pdist(positions))
    iu = np.triu_indices_from(dissimilarity, k=1)
    num = np.sum((dist[iu] - dissimilarity[iu]) ** 2)
    den = np.sum(dist[iu] ** 2)
    return float(np.sqrt(num / den)) if den > 0 else 0.0


def proximity_map(
    auc: np.ndarray, names: list[str], preparations: list[str], dims: int = 3, seed: int = 0
) -> ProximityMap:
    """Metric MDS of the symmetrised 1/AUC dissimilarities (positions are centred)."""
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
    return ProximityMap(list(names), list(preparations), pos, d, stress1(pos, d))
