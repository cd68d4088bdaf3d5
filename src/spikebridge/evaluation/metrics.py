"""Metrics of one-step-ahead spike prediction, with block-bootstrap intervals over time.

Every function takes ``probs`` (T, N) float (predicted P(spike) for each bin and unit), ``targets``
(T, N) bool (the observed spikes of the same bins) and ``unit_mask`` (N,) bool (False = padding column,
ignored everywhere). "Pooled" metrics score all (bin, real unit) cells together (the paper's number,
which rewards merely ranking active units above silent ones); "per-unit" metrics score each unit's
column on its own and are NaN when the unit has no test spike or no test non-spike.

Bootstrap intervals (see :mod:`spikebridge.evaluation.bootstrap`): ratio statistics (chance level,
TPR/TNR, bits per spike) are recomputed exactly on every resample from per-segment sums. ROC-AUC and
average precision are resampled through their first-order (Hajek / influence-function) expansion: each
cell gets an exact influence value from one sort, and a resample's statistic is the point estimate plus
the weighted sum of influence values. The point estimates themselves are exact (equal to scikit-learn's).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError, SpikebridgeProtocolError
from spikebridge.evaluation.bootstrap import BlockBootstrap, Resampler, choose_block_length, segment_sums
from spikebridge.evaluation.calibration import make_calibrator
from spikebridge.evaluation.information import (
    CALIBRATED_VARIANTS,
    bits_metrics,
    bits_per_spike,
    probability_sets,
)
from spikebridge.evaluation.ranking import RankStats, curves_from_stats, positive_groups, rank_stats
from spikebridge.evaluation.result_types import Curve, EvaluationResult, MetricValue, UnitSummary

__all__ = [
    "Curve",
    "METRICS",
    "EvaluationResult",
    "MetricValue",
    "UnitSummary",
    "bits_per_spike",
    "chance_level",
    "check_disjoint",
    "check_inputs",
    "choose_threshold",
    "evaluate_predictions",
    "per_unit_average_precision",
    "per_unit_roc_auc",
    "pooled_average_precision",
    "pooled_curves",
    "pooled_roc_auc",
    "rates_at_threshold",
]

THRESHOLD_RULES = ("youden", "f1")

METRICS = {
    "roc_auc_pooled": "ROC-AUC over all (bin, real unit) cells: the paper's number, mostly rate ranking",
    "roc_auc_unit_mean": "mean over units of each unit's ROC-AUC (units without a test spike are left out)",
    "roc_auc_unit_median": "median of the same",
    "ap_pooled": "average precision (PR-AUC) over all cells",
    "ap_unit_mean": "mean over units of each unit's average precision",
    "ap_unit_median": "median of the same",
    "chance_pooled": "spike probability of the test cells: the average precision of a random predictor",
    "lift_pooled": "ap_pooled / chance_pooled",
    "lift_unit_mean": "mean over units of each unit's AP / its spike probability",
    "lift_unit_median": "median of the same",
    "bits_per_spike_nlb_pooled": (
        "headline bits/spike, NLB null (each unit's mean rate over the scored test bins), pooled over "
        "units; uncalibrated probabilities, or validation-calibrated scores for models that do not "
        "output probabilities (EvaluationResult.bits_source)"
    ),
    "bits_per_spike_nlb_unit_mean": "mean over units with a test spike of each unit's bits/spike, NLB null",
    "bits_per_spike_nlb_unit_median": "median of the same",
    "bits_per_spike_train_pooled": "bits/spike of the same probabilities against each unit's train-part rate",
    "bits_per_spike_train_unit_mean": "per-unit mean of the same",
    "bits_per_spike_train_unit_median": "median of the same",
    "bits_per_spike_nlb_cal_one_map": "optional: NLB bits/spike after one calibration map for all units, fitted on validation",
    "bits_per_spike_nlb_cal_unit_maps": "optional: NLB bits/spike after a calibration map per unit, fitted on validation",
    "tpr": "fraction of spike cells with P >= the threshold chosen on validation",
    "tnr": "fraction of non-spike cells with P < that threshold",
}
"""Names of the scalar metrics of :func:`evaluate_predictions` (and of the results store's rows), with their
meaning; the names are stable. Every value carries a block-bootstrap interval over test time."""


def check_inputs(probs: np.ndarray, targets: np.ndarray, unit_mask: np.ndarray) -> tuple:
    """Validate and convert the three standard inputs; returns (probs float, targets bool, mask bool).

    Floating-point ``probs`` keep their precision (a model's float32 outputs are not copied to float64:
    every rank statistic is the same on them, and log-likelihoods widen them exactly); other dtypes
    become float64.
    """
    probs = np.asarray(probs)
    if not np.issubdtype(probs.dtype, np.floating):
        probs = probs.astype(np.float64)
    targets = np.asarray(targets)
    unit_mask = np.asarray(unit_mask, dtype=bool)
    if probs.ndim != 2 or probs.shape != targets.shape:
        raise SpikebridgeDataError(
            f"probs and targets must both be (T, N); got {probs.shape} and {targets.shape}"
        )
    if unit_mask.shape != (probs.shape[1],):
        raise SpikebridgeDataError(f"unit_mask must be ({probs.shape[1]},), got {unit_mask.shape}")
    if not unit_mask.any():
        raise SpikebridgeDataError("unit_mask selects no real unit")
    if not np.isfinite(probs[:, unit_mask] if not unit_mask.all() else probs).all():
        raise SpikebridgeDataError("probs contain NaN or infinite values in real units")
    if targets.dtype != bool and not np.isin(targets, (0, 1)).all():
        raise SpikebridgeDataError("targets must be binary (bool or 0/1)")
    return probs, targets.astype(bool, copy=False), unit_mask


def check_disjoint(train_span: tuple[float, float], test_span: tuple[float, float]) -> None:
    """Refuse a test span that overlaps the training span.

    Parameters
    ----------
    train_span, test_span : (start_s, stop_s)
        Half-open intervals [start, stop) in seconds on the recording's clock.

    Raises
    ------
    SpikebridgeProtocolError
        If the spans share any time (scoring on training bins would leak).
    """
    (a0, a1), (b0, b1) = (map(float, train_span), map(float, test_span))
    if a1 < a0 or b1 < b0:
        raise SpikebridgeProtocolError(
            f"spans must satisfy start <= stop; got train {train_span}, test {test_span}"
        )
    if max(a0, b0) < min(a1, b1):
        raise SpikebridgeProtocolError(
            f"test span {tuple(test_span)} s overlaps train span {tuple(train_span)} s: test bins must never "
            "be training bins"
        )


# --------------------------------------------------------------------------------------------------
# Rank statistics from one sort: exact AUC / AP, their influence values and the pooled curves
# --------------------------------------------------------------------------------------------------


def pooled_roc_auc(probs: np.ndarray, targets: np.ndarray, unit_mask: np.ndarray) -> float:
    """ROC-AUC over all (bin, real unit) cells (the paper's number); NaN if one class is absent."""
    probs, targets, unit_mask = check_inputs(probs, targets, unit_mask)
    stats = positive_groups(probs[:, unit_mask].ravel(), targets[:, unit_mask].ravel())
    return np.nan if stats is None else stats.auc


def pooled_average_precision(probs: np.ndarray, targets: np.ndarray, unit_mask: np.ndarray) -> float:
    """Average precision (PR-AUC, step-wise as scikit-learn) over all (bin, real unit) cells."""
    probs, targets, unit_mask = check_inputs(probs, targets, unit_mask)
    stats = positive_groups(probs[:, unit_mask].ravel(), targets[:, unit_mask].ravel())
    return np.nan if stats is None else stats.ap


def _per_unit(probs: np.ndarray, targets: np.ndarray, unit_mask: np.ndarray) -> list:
    return [
        positive_groups(probs[:, n], targets[:, n]) if unit_mask[n] else None for n in range(probs.shape[1])
    ]


def per_unit_roc_auc(probs: np.ndarray, targets: np.ndarray, unit_mask: np.ndarray) -> np.ndarray:
    """ROC-AUC of each unit's column, shape (N,); NaN for padding and for units without spike or non-spike."""
    probs, targets, unit_mask = check_inputs(probs, targets, unit_mask)
    return np.array([np.nan if s is None else s.auc for s in _per_unit(probs, targets, unit_mask)])


def per_unit_average_precision(probs: np.ndarray, targets: np.ndarray, unit_mask: np.ndarray) -> np.ndarray:
    """Average precision of each unit's column, shape (N,); NaN where ``per_unit_roc_auc`` is NaN."""
    probs, targets, unit_mask = check_inputs(probs, targets, unit_mask)
    return np.array([np.nan if s is None else s.ap for s in _per_unit(probs, targets, unit_mask)])


def chance_level(targets: np.ndarray, unit_mask: np.ndarray) -> tuple[float, np.ndarray]:
    """Average precision of a random predictor: the spike fraction, pooled (float) and per unit (N,).

    Padding columns are NaN in the per-unit array.
    """
    targets, unit_mask = np.asarray(targets, dtype=bool), np.asarray(unit_mask, dtype=bool)
    per_unit = np.where(unit_mask, targets.mean(axis=0), np.nan)
    return float(targets[:, unit_mask].mean()), per_unit


# --------------------------------------------------------------------------------------------------
# Curves and threshold metrics
# --------------------------------------------------------------------------------------------------


def pooled_curves(
    probs: np.ndarray, targets: np.ndarray, unit_mask: np.ndarray, max_points: int = 1000
) -> tuple[Curve, Curve]:
    """Pooled ROC and PR curves (each at most ~``max_points`` points) over all real-unit cells."""
    probs, targets, unit_mask = check_inputs(probs, targets, unit_mask)
    stats = rank_stats(probs[:, unit_mask].ravel(), targets[:, unit_mask].ravel(), influence=False)
    if stats is None:
        raise SpikebridgeDataError("curves need cells with and without spikes")
    return curves_from_stats(stats, max_points)


def rates_at_threshold(
    probs: np.ndarray, targets: np.ndarray, unit_mask: np.ndarray, threshold: float
) -> tuple[float, float]:
    """True-positive and true-negative rates (the paper's "accuracy for 1s and 0s") when P >= threshold.

    Returns
    -------
    (tpr, tnr) : tuple of float
        Fraction of spike cells predicted as spikes and of non-spike cells predicted as non-spikes, pooled
        over real units; NaN when the class is absent.
    """
    probs, targets, unit_mask = check_inputs(probs, targets, unit_mask)
    pred, y = probs[:, unit_mask] >= np.float64(threshold), targets[:, unit_mask]
    n_pos, n_neg = y.sum(), (~y).sum()
    tpr = (pred & y).sum() / n_pos if n_pos else np.nan
    tnr = (~pred & ~y).sum() / n_neg if n_neg else np.nan
    return float(tpr), float(tnr)


def choose_threshold(
    val_probs: np.ndarray, val_targets: np.ndarray, unit_mask: np.ndarray, rule: str = "youden"
) -> float:
    """Choose a decision threshold on validation predictions (never on test bins).

    Parameters
    ----------
    val_probs : ndarray, shape (T_val, N), float
    val_targets : ndarray, shape (T_val, N), bool
    unit_mask : ndarray, shape (N,), bool
    rule : {"youden", "f1"}
        "youden" maximises TPR + TNR - 1 on the pooled ROC curve; "f1" maximises the pooled F1 score.

    Returns
    -------
    threshold : float
        Predict a spike when P >= threshold.
    """
    if rule not in THRESHOLD_RULES:
        raise SpikebridgeDataError(f"threshold rule must be one of {THRESHOLD_RULES}, got {rule!r}")
    val_probs, val_targets, unit_mask = check_inputs(val_probs, val_targets, unit_mask)
    groups = positive_groups(val_probs[:, unit_mask].ravel(), val_targets[:, unit_mask].ravel())
    if groups is None:
        raise SpikebridgeDataError("choosing a threshold needs validation cells with and without spikes")
    # Both rules only lose when the threshold passes non-spike cells alone, so the first maximum over all
    # distinct scores (highest first) is at a score some spike cell has.
    tp, fp = groups.tp[::-1], groups.fp[::-1]  # highest threshold first
    m, n = groups.tp[0], groups.fp[0] + groups.neg_below[0]
    if rule == "youden":
        score = tp / m - fp / n
    else:
        score = 2 * tp / (tp + fp + m)
    return float(groups.values[::-1][int(np.argmax(score))])


# --------------------------------------------------------------------------------------------------
# Full evaluation with block-bootstrap intervals
# --------------------------------------------------------------------------------------------------


def _resolve_threshold(threshold, val_probs, val_targets, unit_mask, rule) -> tuple[float, str]:
    if threshold is not None:
        return float(threshold), "given"
    return choose_threshold(val_probs, val_targets, unit_mask, rule), f"validation:{rule}"


def _pooled_stats(p_cols: np.ndarray, y_cols: np.ndarray, orders: np.ndarray) -> RankStats | None:
    """Pooled rank statistics of (R, T) columns; the pooled order merges the per-unit sorted runs."""
    T = p_cols.shape[1]
    runs = np.take_along_axis(p_cols, orders, axis=1).ravel()  # R ascending runs of T scores
    merge = np.argsort(runs, kind="stable")  # timsort merges presorted runs in O(n log R)
    cells = (orders + T * np.arange(p_cols.shape[0])[:, None]).ravel()  # flat (R, T) index of each run entry
    return rank_stats(p_cols.ravel(), y_cols.ravel(), order=cells[merge])


def _unit_stats(p_cols: np.ndarray, y_cols: np.ndarray, orders: np.ndarray, seg_len: int) -> tuple:
    """Per-unit AUC and AP (R,) (NaN if unscorable) and segment sums of their influence values (n_seg, R)."""
    R, T = p_cols.shape
    n_seg = -(-T // seg_len)
    auc, ap = np.full(R, np.nan), np.full(R, np.nan)
    seg_auc, seg_ap = np.zeros((n_seg, R)), np.zeros((n_seg, R))
    for r in range(R):
        st = rank_stats(p_cols[r], y_cols[r], order=orders[r])
        if st is not None:
            auc[r], ap[r] = st.auc, st.ap
            seg_auc[:, r], seg_ap[:, r] = (
                segment_sums(st.infl_auc, seg_len),
                segment_sums(st.infl_ap, seg_len),
            )
    return auc, ap, seg_auc, seg_ap


def _unit_points(p_cols: np.ndarray, y_cols: np.ndarray, seg_len: int) -> tuple:
    """Per-unit AUC and AP (R,) without influence values (no resampling): zero segment sums (n_seg, R)."""
    R, T = p_cols.shape
    auc, ap = np.full(R, np.nan), np.full(R, np.nan)
    for r in range(R):
        st = positive_groups(p_cols[r], y_cols[r])
        if st is not None:
            auc[r], ap[r] = st.auc, st.ap
    zeros = np.zeros((-(-T // seg_len), R))
    return auc, ap, zeros, zeros


def _rank_stats_all(rs: Resampler, p_cols, y_cols, side_work, curves: bool) -> tuple:
    """Pooled and per-unit rank statistics of (R, T) columns, and the result of ``side_work()``.

    With resamples every cell's influence value is needed (argsorts); without (``rs.n_boot == 0``, e.g.
    the matrix) value sorts give the same point estimates several times faster, and without ``curves``
    only the groups of the spike cells' scores are counted. The pooled statistics run in a second
    thread while the per-unit statistics and ``side_work()`` run in this one.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:  # numpy releases the GIL: pooled and units overlap
        if rs.n_boot == 0:
            pooled_fn = partial(rank_stats, influence=False) if curves else positive_groups
            future = pool.submit(pooled_fn, p_cols.ravel(), y_cols.ravel())
            units = _unit_points(p_cols, y_cols, rs.seg_len)
        else:
            orders = np.argsort(p_cols, axis=1)  # (R, T) each unit's ascending order
            future = pool.submit(_pooled_stats, p_cols, y_cols, orders)
            units = _unit_stats(p_cols, y_cols, orders, rs.seg_len)
        side = side_work()
        pooled = future.result()
    if pooled is None:
        raise SpikebridgeDataError("the test part needs cells with and without spikes in real units")
    return pooled, units, side


def _rank_metrics(rs: Resampler, probs, targets, side_work, curves: bool = True) -> tuple:
    """Pooled and per-unit AUC/AP/chance/lift metrics over real-unit columns ``probs``/``targets`` (T, R).

    ``side_work()`` (any other work of the caller) runs while the pooled statistics are computed; its
    result is returned, after the metric values, the per-unit points and the pooled statistics (a
    ``RankStats``, or ``PositiveGroups`` when neither resamples nor ``curves`` are wanted).
    """
    T, R = probs.shape
    p_cols, y_cols = np.ascontiguousarray(probs.T), np.ascontiguousarray(targets.T)  # (R, T)
    pooled, (auc, ap, seg_auc, seg_ap), side = _rank_stats_all(rs, p_cols, y_cols, side_work, curves)
    if rs.n_boot == 0:
        rep_auc = rep_ap = np.zeros(0)
    else:
        rep_auc = rs.linear(pooled.auc, pooled.infl_auc.reshape(R, T).sum(axis=0))
        rep_ap = rs.linear(pooled.ap, pooled.infl_ap.reshape(R, T).sum(axis=0))
    spk = targets.sum(axis=1).astype(float)
    rep_chance = rs.total(spk) / rs.total(np.full(T, float(R)))
    chance = spk.sum() / (T * R)
    out = [
        rs.value("roc_auc_pooled", pooled.auc, rep_auc),
        rs.value("ap_pooled", pooled.ap, rep_ap),
        rs.value("chance_pooled", chance, rep_chance),
        rs.value("lift_pooled", pooled.ap / chance, rep_ap / rep_chance),
    ]
    chance_u = targets.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = {"roc_auc": auc + rs.weights @ seg_auc, "ap": ap + rs.weights @ seg_ap}
        reps["lift"] = reps["ap"] / (rs.total(targets) / T)
        points = {"roc_auc": auc, "ap": ap, "lift": ap / chance_u}
    for key in ("roc_auc", "ap", "lift"):
        out += rs.unit_values(key, points[key], reps[key])
    points["chance"] = chance_u
    return out, points, pooled, side


def _expand(values: np.ndarray, unit_mask: np.ndarray) -> tuple:
    """(R,) real-unit values -> (N,) tuple with NaN in padding columns."""
    full = np.full(unit_mask.size, np.nan)
    full[unit_mask] = values
    return tuple(full.tolist())


def _threshold_metrics(rs: Resampler, probs, targets, threshold: float) -> list:
    pred = probs >= np.float64(threshold)  # compared in float64 also when probs are float32
    tp, pos = (pred & targets).sum(axis=1), targets.sum(axis=1)
    tn, neg = (~pred & ~targets).sum(axis=1), (~targets).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return [
            rs.value("tpr", tp.sum() / pos.sum(), rs.total(tp) / rs.total(pos)),
            rs.value("tnr", tn.sum() / neg.sum(), rs.total(tn) / rs.total(neg)),
        ]


def evaluate_predictions(
    probs: np.ndarray,
    targets: np.ndarray,
    unit_mask: np.ndarray,
    train_rates: np.ndarray,
    threshold: float | None = None,
    val_probs: np.ndarray | None = None,
    val_targets: np.ndarray | None = None,
    calibration: str = "isotonic",
    n_boot: int = 200,
    block_len: int | None = None,
    seed: int = 0,
    *,
    probabilistic: bool = True,
    calibrated: tuple[str, ...] = (),
    bin_size: float = 1e-3,
    level: float = 0.95,
    threshold_rule: str = "youden",
    eps: float = 1e-6,
    max_curve_points: int = 1000,
    curves: bool = True,
    train_span: tuple[float, float] | None = None,
    test_span: tuple[float, float] | None = None,
) -> EvaluationResult:
    """Score one model's test predictions with every metric and block-bootstrap intervals over time.

    Parameters
    ----------
    probs : ndarray, shape (T, N), float
        Test predictions; row t is the model's P(spike) for ``targets[t]`` given earlier bins only.
    targets : ndarray, shape (T, N), bool
        Observed test spikes.
    unit_mask : ndarray, shape (N,), bool
        False marks padding columns (ignored).
    train_rates : ndarray, shape (N,), float
        Per-bin spike probability of each unit in the training part (the train-rate null of bits per
        spike).
    threshold : float or None
        Decision threshold for TPR/TNR (spike when P >= threshold). None: chosen on the validation
        predictions with ``threshold_rule``.
    val_probs, val_targets : ndarray, shape (T_val, N), optional
        Validation predictions and spikes, used only to choose the threshold and fit calibrations.
    calibration : {"isotonic", "platt", "none"}
        Method of the calibrations fitted on validation: the headline of scores that are not
        probabilities, and the ``calibrated`` variants (ranking metrics and TPR/TNR use raw ``probs``).
    n_boot, seed : int
        Bootstrap resamples (0: point estimates only, intervals NaN) and seed (see ``BlockBootstrap``).
    block_len : int or None
        Block length in bins; None chooses it from the population count of ``targets`` (see
        :func:`~spikebridge.evaluation.bootstrap.choose_block_length`): the interval describes how the
        metric varies over these test bins, and nothing is fitted to them, so they are the right data
        (the validation part is too short to show correlations of several seconds).
    probabilistic : bool
        The model outputs spike probabilities (losses such as BCE and focal, the baselines): bits
        per spike are computed on them uncalibrated. False (e.g. Dice scores): on the validation-
        calibrated scores (one map for all units), and ``bits_source`` says so.
    calibrated : tuple of {"one_map", "unit_maps"}
        Also report bits per spike (NLB null) after calibration on validation with one map for all
        units (``bits_per_spike_nlb_cal_one_map``) and with a map per unit that has enough validation
        spikes (``bits_per_spike_nlb_cal_unit_maps``).
    bin_size : float
        Bin width in seconds (for the block length).
    level : float
        Coverage of the intervals.
    curves : bool
        Also return the pooled ROC and PR curves (False: ``roc_curve``/``pr_curve`` are None; the
        matrix stores scalar metrics only, and without curves nor resamples only the spike cells'
        scores need counting).
    train_span, test_span : (start_s, stop_s), optional
        If both are given, ``check_disjoint`` refuses overlapping spans.

    Returns
    -------
    EvaluationResult
        Metric names: see :data:`METRICS`.
    """
    if train_span is not None and test_span is not None:
        check_disjoint(train_span, test_span)
    probs, targets, unit_mask = check_inputs(probs, targets, unit_mask)
    train_rates = np.asarray(train_rates, dtype=float)
    if train_rates.shape != unit_mask.shape:
        raise SpikebridgeDataError(f"train_rates must be ({unit_mask.size},), got {train_rates.shape}")
    _check_options(calibration, probabilistic, calibrated, threshold, val_probs, val_targets)
    choice = None
    if block_len is None:
        choice = choose_block_length(targets, unit_mask, bin_size, source="test targets")
        block_len = choice.bins
    boot = BlockBootstrap(probs.shape[0], block_len, n_boot, seed)
    p, y = (probs, targets) if unit_mask.all() else (probs[:, unit_mask], targets[:, unit_mask])  # (T, R)
    rs = Resampler(boot, level)

    def side_work():  # runs while the pooled rank statistics are computed in another thread
        thr, source = _resolve_threshold(threshold, val_probs, val_targets, unit_mask, threshold_rule)
        sets, bits_source = probability_sets(
            probs, val_probs, val_targets, unit_mask, calibration, seed, probabilistic, calibrated, real=p
        )
        bps_values, bps_units = bits_metrics(rs, sets, y, train_rates[unit_mask], eps)
        return thr, source, bits_source, bps_values, bps_units, _threshold_metrics(rs, p, y, thr)

    with threadpool_limits(limits=1, user_api="blas"):  # only small products; idle BLAS threads spin
        rank_values, points, pooled, side = _rank_metrics(rs, p, y, side_work, curves)
    thr, source, bits_source, bps_values, bps_units, thr_values = side
    points.update(bps_units)
    per_unit = {key: _expand(vals, unit_mask) for key, vals in points.items()}
    n_spk = y.sum(axis=0)  # (R,) test spikes of each real unit
    summaries = tuple(
        UnitSummary.from_counts(key, np.array(per_unit[key]), n_spk, y.shape[0], unit_mask)
        for key in ("roc_auc", "ap", "lift", "bits_per_spike")
    )
    roc, pr = curves_from_stats(pooled, max_curve_points) if curves else (None, None)
    return EvaluationResult(
        n_bins=int(probs.shape[0]),
        n_units=int(unit_mask.sum()),
        n_padding=int((~unit_mask).sum()),
        n_spikes=int(y.sum()),
        threshold=thr,
        threshold_source=source,
        calibration=calibration,
        level=level,
        bootstrap={
            **boot.to_dict(),
            "block_s": block_len * bin_size,
            "block_choice": choice and choice.to_dict(),
        },
        metrics=tuple(rank_values + bps_values + thr_values),
        summaries=summaries,
        per_unit=per_unit,
        roc_curve=roc,
        pr_curve=pr,
        bits_source=bits_source,
    )


def _check_options(calibration, probabilistic, calibrated, threshold, val_probs, val_targets) -> None:
    """Refuse inconsistent options before any work."""
    make_calibrator(calibration)  # refuses an unknown method
    unknown = set(calibrated) - set(CALIBRATED_VARIANTS)
    if unknown:
        raise SpikebridgeConfigError(
            f"calibrated variants must be among {tuple(CALIBRATED_VARIANTS)}, got {sorted(unknown)}"
        )
    needs_cal = bool(calibrated) or not probabilistic
    if needs_cal and calibration == "none":
        raise SpikebridgeConfigError(
            "bits per spike of scores that are not probabilities, and calibrated variants, need a "
            "calibration method (isotonic or platt), not 'none'"
        )
    if (threshold is None or needs_cal) and (val_probs is None or val_targets is None):
        raise SpikebridgeConfigError(
            "the threshold (threshold=None) and calibrations are fitted on validation bins: pass "
            "val_probs and val_targets"
        )
