"""Exact rank statistics of spike scores from one sort: ROC-AUC, average precision, their influence values.

``rank_stats(scores, labels)`` sorts once and returns the tie-aware ROC-AUC and average precision (equal to
scikit-learn's ``roc_auc_score`` and ``average_precision_score``), the per-cell influence values of both
(first-order change of the statistic when a cell's weight changes; they sum to zero), and the counts at
every distinct threshold from which the pooled ROC and PR curves are drawn. The block bootstrap of
:mod:`spikebridge.evaluation.metrics` resamples AUC and AP through these influence values.

Influence values need every cell's place in the sorted order (an argsort). Without them the tie groups
and their spike counts come from a plain value sort of all scores and one of the spike cells' scores
(several times faster than an argsort): the statistics are then the same numbers from the same counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikebridge.evaluation.result_types import Curve


@dataclass(frozen=True)
class RankStats:
    """Exact ROC-AUC and AP of one score vector, per-cell influence values and threshold counts."""

    auc: float
    ap: float
    infl_auc: np.ndarray | None  # (n_cells,) in input order, sums to 0
    infl_ap: np.ndarray | None  # (n_cells,)
    thresholds: np.ndarray  # (n_groups,) distinct scores, descending
    tp: np.ndarray  # (n_groups,) positives with score >= threshold
    fp: np.ndarray  # (n_groups,) negatives with score >= threshold


def rank_stats(
    scores: np.ndarray, labels: np.ndarray, order: np.ndarray | None = None, influence: bool = True
) -> RankStats | None:
    """Exact ROC-AUC and average precision of one score vector, with their influence values.

    Parameters
    ----------
    scores : ndarray, shape (n_cells,), float
    labels : ndarray, shape (n_cells,), bool
    order : ndarray, shape (n_cells,), int, optional
        An ascending order of ``scores`` (e.g. from a merge of presorted runs); computed if None.
    influence : bool
        Compute the per-cell influence values (else ``infl_auc``/``infl_ap`` are None).

    Returns
    -------
    RankStats or None
        None when ``labels`` has no positive or no negative cell.
    """
    m = int(np.count_nonzero(labels))
    n = labels.size - m
    if m == 0 or n == 0:
        return None
    if not influence and order is None:
        values, size, pos = _groups_by_value_sort(scores, labels)
    else:
        if order is None:
            order = np.argsort(scores)  # ties are grouped below, so a stable sort is not needed
        s, y = scores[order], labels[order]
        first = _group_starts(s)
        size = np.diff(np.append(first, s.size))
        cum_y = np.cumsum(y)
        pos = (cum_y[first + size - 1] - cum_y[first] + y[first]).astype(float)
        values = s[first]
    neg = size - pos
    pos_below, neg_below = np.cumsum(pos) - pos, np.cumsum(neg) - neg
    auc = float(pos @ (neg_below + 0.5 * neg)) / (m * n)
    tp, fp = m - pos_below, n - neg_below  # cells with score >= the group's score
    prec = tp / (tp + fp)
    ap = float(pos @ prec) / m
    infl_auc = infl_ap = None
    if influence:
        sorted_auc, sorted_ap = _influence(y, size, pos, neg, pos_below, neg_below, tp, fp, prec, auc, ap)
        infl_auc, infl_ap = np.empty(s.size), np.empty(s.size)
        infl_auc[order], infl_ap[order] = sorted_auc, sorted_ap  # back to input order
    return RankStats(auc, ap, infl_auc, infl_ap, values[::-1], tp[::-1], fp[::-1])


@dataclass(frozen=True)
class PositiveGroups:
    """Counts at every distinct score that some spike cell has (ascending), from value sorts only.

    AUC and AP only weigh the tie groups holding a spike cell, so these counts give them exactly, and the
    best threshold of a rule that gains only from spike cells (Youden, F1) is always one of them.
    """

    values: np.ndarray  # (G,) distinct scores of spike cells, ascending
    pos: np.ndarray  # (G,) spike cells with exactly this score
    neg_eq: np.ndarray  # (G,) non-spike cells with exactly this score
    tp: np.ndarray  # (G,) spike cells with score >= the value
    fp: np.ndarray  # (G,) non-spike cells with score >= the value
    neg_below: np.ndarray  # (G,) non-spike cells with a lower score

    @property
    def auc(self) -> float:
        m, n = self.tp[0], self.fp[0] + self.neg_below[0]
        return float(self.pos @ (self.neg_below + 0.5 * self.neg_eq)) / (m * n)

    @property
    def ap(self) -> float:
        return float(self.pos @ (self.tp / (self.tp + self.fp))) / self.tp[0]


def positive_groups(scores: np.ndarray, labels: np.ndarray) -> PositiveGroups | None:
    """Tie-group counts at the spike cells' distinct scores (see :class:`PositiveGroups`).

    Parameters
    ----------
    scores : ndarray, shape (n_cells,), float
    labels : ndarray, shape (n_cells,), bool

    Returns
    -------
    PositiveGroups or None
        None when ``labels`` has no positive or no negative cell.
    """
    labels = np.asarray(labels, dtype=bool)
    pos_scores = np.sort(scores[labels])
    m = pos_scores.size
    n = scores.size - m
    if m == 0 or n == 0:
        return None
    first = _group_starts(pos_scores)
    values = pos_scores[first]
    pos = np.diff(np.append(first, m)).astype(float)
    pos_below = np.cumsum(pos) - pos
    s = np.sort(scores)  # a value sort (no argsort): counts below and at each value by binary search
    all_below = np.searchsorted(s, values, side="left")
    neg_below = all_below - pos_below
    neg_eq = np.searchsorted(s, values, side="right") - all_below - pos
    return PositiveGroups(values, pos, neg_eq, m - pos_below, n - neg_below, neg_below)


def _group_starts(s: np.ndarray) -> np.ndarray:
    """Index of the first element of every run of equal values in the sorted ``s`` (ascending)."""
    new = np.empty(s.size, dtype=bool)
    new[0] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    return np.flatnonzero(new)


def _groups_by_value_sort(scores: np.ndarray, labels: np.ndarray) -> tuple:
    """Tie groups of ``scores`` without an argsort: distinct values (G,) ascending, sizes (G,), spikes (G,).

    Every spike cell's score is one of the distinct values, so its group is found by a binary search;
    the counts are exactly those of an argsort of all cells.
    """
    s = np.sort(scores)
    first = _group_starts(s)
    values = s[first]
    size = np.diff(np.append(first, s.size))
    group = np.searchsorted(values, scores[np.asarray(labels, dtype=bool)])  # exact matches
    pos = np.bincount(group, minlength=values.size).astype(float)
    return values, size, pos


def _influence(y, size, pos, neg, pos_below, neg_below, tp, fp, prec, auc, ap) -> tuple:
    """Per-cell influence values of AUC and AP in sorted order, from per-tie-group counts."""
    m, n = tp[0], fp[0]
    d_tp = np.cumsum(pos * fp / (tp + fp) ** 2)  # d prec / d tp, accumulated over lower groups
    d_fp = np.cumsum(pos * tp / (tp + fp) ** 2)  # -d prec / d fp, accumulated over lower groups
    auc_pos = ((neg_below + 0.5 * neg) / n - auc) / m  # influence of a spike cell, per group
    auc_neg = ((m - pos_below - 0.5 * pos) / m - auc) / n  # influence of a non-spike cell
    infl_auc = np.where(y, np.repeat(auc_pos, size), np.repeat(auc_neg, size))
    infl_ap = np.where(y, np.repeat((prec - ap + d_tp) / m, size), np.repeat(-d_fp / m, size))
    return infl_auc, infl_ap


def _downsample(x: np.ndarray, y: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` points evenly spaced along the curve's arc length (ends kept)."""
    if x.size <= max_points:
        return np.arange(x.size)
    arc = np.concatenate(([0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))))
    idx = np.searchsorted(arc, np.linspace(0.0, arc[-1], max_points))
    return np.unique(np.clip(np.concatenate(([0], idx, [x.size - 1])), 0, x.size - 1))


def curves_from_stats(stats: RankStats, max_points: int) -> tuple[Curve, Curve]:
    """ROC (FPR, TPR) and PR (recall, precision) curves from ``stats``, each at most ~``max_points`` long."""
    m, n = stats.tp[-1], stats.fp[-1]
    thr = np.concatenate(([np.inf], stats.thresholds))
    fpr, tpr = np.concatenate(([0.0], stats.fp / n)), np.concatenate(([0.0], stats.tp / m))
    recall = tpr
    precision = np.concatenate(([1.0], stats.tp / (stats.tp + stats.fp)))
    out = []
    for kind, x, y in (("roc", fpr, tpr), ("pr", recall, precision)):
        keep = _downsample(x, y, max_points)
        out.append(Curve(kind, tuple(x[keep].tolist()), tuple(y[keep].tolist()), tuple(thr[keep].tolist())))
    return out[0], out[1]
