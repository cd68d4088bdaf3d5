"""Scoring a predictor on a prepared recording's test part, under the protocol.

The target's test part is scored from its own past (teacher-forced one-step-ahead: the first test
bin is context only). Everything a metric needs to choose (the TPR/TNR threshold, the probability
calibrations behind bits per spike) is fitted on the target's validation part, never on test bins;
the bootstrap block length is read from the test targets' population count (nothing is fitted to it).
"""

from __future__ import annotations

from typing import Any

from spikebridge.experiments.store import ResultRow
from spikebridge.experiments.zoo import Predictor
from spikebridge.preprocess.prepare import PreparedRecording


def outputs_probabilities(model: str) -> bool:
    """Whether a model's outputs are spike probabilities (Dice-trained transformers output scores)."""
    return not model.endswith("-dice")


def score(
    predict: Predictor,
    target: PreparedRecording,
    n_boot: int = 200,
    seed: int = 0,
    block_len: int | None = None,
    probabilistic: bool = True,
    calibrated: tuple[str, ...] = (),
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
    probabilistic : bool
        The outputs are probabilities (see :func:`outputs_probabilities`); else bits per spike are
        computed after a calibration fitted on the validation part.
    calibrated : tuple of {"one_map", "unit_maps"}
        Calibrated variants of bits per spike to add (see ``evaluate_predictions``).

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
        probabilistic=probabilistic,
        calibrated=calibrated,
        bin_size=target.test.bin_size,
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
