"""Scoring a predictor on a prepared recording's test part, under the protocol.

The target's validation and test parts are predicted in one teacher-forced pass, one step ahead,
from the target's own past: the pass starts :data:`WARMUP_BINS` bins before the validation part (at
the end of the target's training part, used as input only), so every validation and test bin,
the first test bin included, is predicted from real preceding bins. Everything a metric needs to
choose (the TPR/TNR threshold, the probability calibration behind bits per spike) is fitted on the
validation predictions, never on test bins. Only the columns in ``unit_mask`` are scored. The
bootstrap block length is read from the test targets' population count (nothing is fitted to it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikebridge.experiments.store import ResultRow
from spikebridge.experiments.zoo import Predictor
from spikebridge.preprocess.prepare import PreparedRecording

WARMUP_BINS = 20_000  # bins of the target's training part read (as the past) before its validation part


def outputs_probabilities(model: str) -> bool:
    """Whether a model's outputs are spike probabilities (Dice-trained models output scores)."""
    return not model.endswith("-dice")


def predict_parts(predict: Predictor, target: PreparedRecording) -> tuple[np.ndarray, np.ndarray]:
    """Validation and test predictions of one pass.

    Returns
    -------
    val_probs : ndarray ``(T_val, N)``
        Row t: P(spike in validation bin t | earlier bins).
    test_probs : ndarray ``(T_test, N)``
        Row t: P(spike in test bin t | earlier bins).
    """
    warm = target.fit.data[-WARMUP_BINS:]
    raster = np.concatenate([warm, target.val.data, target.test.data])  # (W+T_val+T_test, N) contiguous
    probs = predict(raster)  # row t predicts raster[t + 1]
    first_val = warm.shape[0] - 1
    first_test = first_val + target.val.n_bins
    return probs[first_val:first_test], probs[first_test:]


def score(
    predict: Predictor,
    target: PreparedRecording,
    n_boot: int = 200,
    seed: int = 0,
    block_len: int | None = None,
    unit_mask: np.ndarray | None = None,
    probabilistic: bool = True,
    calibrated: tuple[str, ...] = (),
    curves: bool = True,
):
    """Evaluate ``predict`` on ``target``'s test part.

    Parameters
    ----------
    predict : callable
        ``raster (T, N) bool -> (T-1, N) float`` one-step-ahead probabilities.
    target : PreparedRecording
    n_boot : int
        Block-bootstrap resamples for the 95% intervals (0: point estimates only).
    block_len : int or None
        Bootstrap block length in bins; None chooses it from the test part's population count.
    unit_mask : ndarray ``(N,)`` bool, optional
        Columns to score (default: the target's real units).
    probabilistic : bool
        The outputs are probabilities (see :func:`outputs_probabilities`); else bits per spike are
        computed after a calibration fitted on the validation part.
    calibrated : tuple of {"one_map", "unit_maps"}
        Calibrated variants of bits per spike to add (see ``evaluate_predictions``).
    curves : bool
        Also compute the pooled ROC and PR curves (a matrix cell stores scalar metrics only).

    Returns
    -------
    EvaluationResult
    """
    from spikebridge.evaluation.metrics import evaluate_predictions

    mask = target.unit_mask if unit_mask is None else np.asarray(unit_mask, dtype=bool)
    val_probs, probs = predict_parts(predict, target)
    return evaluate_predictions(
        probs,
        target.test.data,
        mask,
        train_rates=target.train_rates,
        threshold=None,
        val_probs=val_probs,
        val_targets=target.val.data,
        calibration="isotonic",
        n_boot=n_boot,
        block_len=block_len,
        seed=seed,
        probabilistic=probabilistic,
        calibrated=calibrated,
        curves=curves,
        bin_size=target.test.bin_size,
        train_span=target.plan.train,
        test_span=target.plan.test,
    )


def result_rows(
    result, model: str, source: str, target: str, config: dict[str, Any], data_hash: str
) -> list[ResultRow]:
    """Tidy store rows of one evaluation, with the number of units scored (metric ``n_units``)."""
    rows = [*result.to_rows(), {"metric": "n_units", "value": float(result.n_units)}]
    return [
        ResultRow(
            model=model,
            source=source,
            target=target,
            metric=r["metric"],
            value=r["value"],
            ci_low=r.get("ci_low"),
            ci_high=r.get("ci_high"),
            config=config,
            data_hash=data_hash,
        )
        for r in rows
    ]
