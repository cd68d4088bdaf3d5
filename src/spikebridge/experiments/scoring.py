"""Scoring a predictor on a prepared recording's test part, under the protocol.

The target's test part is scored from its own past (teacher-forced one-step-ahead: the first test
bin is context only). Everything a metric needs to choose (the TPR/TNR threshold, the probability
calibration behind bits per spike) is fitted on the target's validation part, never on test bins.
"""

from __future__ import annotations

from typing import Any

from spikebridge.experiments.store import ResultRow
from spikebridge.experiments.zoo import Predictor
from spikebridge.preprocess.prepare import PreparedRecording


def score(
    predict: Predictor,
    target: PreparedRecording,
    n_boot: int = 200,
    seed: int = 0,
    block_len: int = 1000,
):
    """Evaluate ``predict`` on ``target``'s test part.

    Parameters
    ----------
    predict : callable
        ``raster (T, N) bool -> (T-1, N) float`` one-step-ahead probabilities.
    target : PreparedRecording
    n_boot : int
        Block-bootstrap resamples for the 95% intervals (0: point estimates only).
    block_len : int
        Bootstrap block length in bins (1000 = 1 s at 1 ms).

    Returns
    -------
    EvaluationResult
    """
    from spikebridge.evaluation.metrics import evaluate_predictions

    val_probs = predict(target.val.data)
    probs = predict(target.test.data)
    return evaluate_predictions(
        probs,
        target.test.data[1:],
        target.unit_mask,
        train_rates=target.train_rates,
        threshold=None,
        val_probs=val_probs,
        val_targets=target.val.data[1:],
        calibration="isotonic",
        n_boot=n_boot,
        block_len=block_len,
        seed=seed,
        train_span=target.plan.train,
        test_span=target.plan.test,
    )


def result_rows(
    result, model: str, source: str, target: str, config: dict[str, Any], data_hash: str
) -> list[ResultRow]:
    """Tidy store rows of one evaluation."""
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
        for r in result.to_rows()
    ]
