"""Ablations scored with the evaluation metrics and intervals, next to the intact model (Fig. 4g).

Three families, each compared with its own reference on exactly the same bins:

* **attention off (inference)**: the trained model with every attention sub-layer's output zeroed,
  scored on the whole test part against the intact model. Cheap, and it answers "does this trained
  model use its attention?".
* **shuffled inputs**: the most recent 50% / 95% of each prediction's context permuted across units,
  scored at query bins against the intact model at the same query bins
  (:mod:`spikebridge.analysis.ablations`).
* **retrained** (the paper's bars): the intact architecture re-fitted at a reduced, documented budget
  (the reference), attention disabled and depths 1-4 at a matched parameter budget, all fitted on the
  source's train part with that same budget and scored on the target's test part.

Each row gives pooled and per-unit ROC-AUC and average precision with 95% block-bootstrap intervals, and
a paired Wilcoxon signed-rank test (two-sided) of per-unit ROC-AUC against the reference, units paired.
Query-bin rows use the intact model's validation-chosen threshold and no calibration (their bits per
spike are not reported).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.preprocess.prepare import PreparedRecording

METRICS = ("roc_auc_pooled", "roc_auc_unit_mean", "ap_pooled", "ap_unit_mean", "bits_per_spike_nlb_pooled",
           "bits_per_spike_nlb_unit_median")  # fmt: skip


@dataclass(frozen=True)
class AblationRow:
    """One ablated condition and its comparison with the reference.

    Attributes
    ----------
    condition : str
    family : {"intact", "inference", "shuffle", "retrained"}
    scoring : str
        "test part" or "N query bins".
    reference : str
        Condition compared with ("" for a reference row).
    n_params : int or None
    metrics : dict
        Metric name -> {"value", "ci_low", "ci_high"}.
    unit_test : dict or None
        Paired two-sided Wilcoxon test of per-unit ROC-AUC against the reference.
    note : str
    """

    condition: str
    family: str
    scoring: str
    reference: str
    n_params: int | None
    metrics: dict
    unit_test: dict | None
    note: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AblationSettings:
    """How the ablations run.

    Attributes
    ----------
    n_queries : int
        Query bins of the shuffle ablations, spread evenly over the test part.
    context : int or None
        Bins each shuffled prediction reads (None: the model's ``max_context``, the paper's "window";
        256 bins for a stateful model, which also carries the intact state from before the window).
    fractions : tuple of float
        Shares of the most recent context shuffled across units, each in (0, 1].
    retrain : bool
        Fit the re-fitted variants (intact reference, attention off, other depths).
    depths : tuple of int
        Depths of the re-fitted variants, 1..4, at the intact model's parameter budget.
    epochs : int
        Epoch budget (and early-stopping patience) of every re-fitted variant, the reference included.
    n_boot, seed : int
        Block-bootstrap resamples and seed of resampling and shuffles.
    """

    n_queries: int = 2000
    context: int | None = None
    fractions: tuple[float, ...] = (0.5, 0.95)
    retrain: bool = True
    depths: tuple[int, ...] = (1, 2, 4)
    epochs: int = 5
    n_boot: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_queries < 10 or self.epochs < 1 or self.n_boot < 0:
            raise SpikebridgeConfigError(
                f"ablations need n_queries >= 10, epochs >= 1, n_boot >= 0; got {self.n_queries}, {self.epochs}, "
                f"{self.n_boot}"
            )
        if not all(0.0 < f <= 1.0 for f in self.fractions):
            raise SpikebridgeConfigError(f"shuffle fractions must be in (0, 1], got {self.fractions}")
        if not all(isinstance(d, int) and 1 <= d <= 4 for d in self.depths):
            raise SpikebridgeConfigError(f"depths must be integers in 1..4, got {self.depths}")
        if self.context is not None and self.context < 2:
            raise SpikebridgeConfigError(f"shuffle context must be >= 2 bins, got {self.context}")


def make_row(condition, family, scoring, result, reference=None, ref_name="", n_params=None, note=""):
    """An :class:`AblationRow` from an EvaluationResult and, optionally, its reference's."""
    from spikebridge.evaluation.stats import versus_baseline

    metrics = {}
    for name in METRICS:
        m = result.metric(name)
        metrics[name] = {"value": _num(m.value), "ci_low": _num(m.ci_low), "ci_high": _num(m.ci_high)}
    test = None
    if reference is not None:
        a = np.asarray(result.per_unit["roc_auc"], dtype=float)
        b = np.asarray(reference.per_unit["roc_auc"], dtype=float)
        test = versus_baseline(a, b, "roc_auc", over="units", alternative="two-sided").to_dict()
    return AblationRow(condition, family, scoring, ref_name, n_params, metrics, test, note)


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def inference_ablations(
    model,
    target: PreparedRecording,
    intact,
    settings: AblationSettings,
    progress: bool = False,
    unit_mask: np.ndarray | None = None,
    columns: bool = True,
) -> list[AblationRow]:
    """Attention switched off (whole test part) and the input shuffles (query bins).

    ``unit_mask`` (default: the target's real units) is the set of columns read and scored;
    ``columns``: a stateful model's per-column parameters apply (the target is its training recording).
    """
    from spikebridge.analysis.ablations import query_bins, query_predictions
    from spikebridge.analysis.protocol import (
        attention_layers,
        attention_switched_off,
        default_context,
        is_stateful,
    )
    from spikebridge.evaluation.metrics import evaluate_predictions
    from spikebridge.experiments.scoring import score
    from spikebridge.training.predict import predict_proba

    mask = np.asarray(target.unit_mask if unit_mask is None else unit_mask, dtype=bool)
    rows = []
    if attention_layers(model):

        def predict_off(raster):
            with attention_switched_off(model):
                return predict_proba(model, raster, progress=progress, unit_mask=mask, columns=columns)

        off = score(predict_off, target, n_boot=settings.n_boot, seed=settings.seed, unit_mask=mask)
        rows.append(make_row("attention off (inference)", "inference", "test part", off, intact, "intact"))
    test = target.test.data
    context = settings.context or (default_context(model) if is_stateful(model) else model.config.max_context)
    queries = query_bins(test.shape[0], context, settings.n_queries)
    targets = test[queries + 1]
    block = max(1, int(round(1000 * queries.size / test.shape[0])))  # about 1 s of recording per block
    scoring = f"{queries.size} query bins"
    reference = None
    for fraction in (0.0, *settings.fractions):
        probs = query_predictions(model, test, queries, mask, context, fraction, seed=settings.seed,
                                  columns=columns)  # fmt: skip
        res = evaluate_predictions(probs, targets, mask, target.train_rates, threshold=intact.threshold,
                                   calibration="none", n_boot=settings.n_boot, block_len=block,
                                   seed=settings.seed)  # fmt: skip
        if fraction == 0.0:
            reference = res
            rows.append(make_row("intact (query bins)", "shuffle", scoring, res))
            continue
        name = f"shuffle recent {round(100 * fraction)}%"
        rows.append(make_row(name, "shuffle", scoring, res, reference, "intact (query bins)"))
    return rows


def part_ablations(model, target: PreparedRecording, intact, predict, settings: AblationSettings,
                   progress: bool = False, unit_mask: np.ndarray | None = None) -> list[AblationRow]:  # fmt: skip
    """What the per-column parts of a model on its training recording buy (whole test part).

    Rows: the per-column part off (the shared part alone, as on another recording) and, when some
    unit's logits are shrunk towards its rate, that shrinkage off. ``predict`` gives the intact
    model's probabilities of a raster; the unshrunk ones follow from them exactly,
    ``z = a + (logit(p) - a) / s``, so that row costs no prediction pass.
    """
    from spikebridge.experiments.scoring import score
    from spikebridge.training.predict import predict_proba

    mask = np.asarray(target.unit_mask if unit_mask is None else unit_mask, dtype=bool)
    rows = []
    shared = score(lambda r: predict_proba(model, r, progress=progress, unit_mask=mask, columns=False),
                   target, n_boot=settings.n_boot, seed=settings.seed, unit_mask=mask)  # fmt: skip
    rows.append(
        make_row("per-column part off (inference)", "inference", "test part", shared, intact, "intact")
    )
    scale = getattr(model, "calibration_scale", None)
    if scale is not None and bool((scale.detach().cpu().numpy()[mask] < 1).any()):
        s = scale.detach().cpu().double().numpy()
        a = model.calibration_anchor.detach().cpu().double().numpy()

        def unshrunk(raster):
            p = np.clip(np.asarray(predict(raster), dtype=np.float64), 1e-12, 1 - 1e-12)
            z = a + (np.log(p) - np.log1p(-p) - a) / s
            return 1.0 / (1.0 + np.exp(-z))

        off = score(unshrunk, target, n_boot=settings.n_boot, seed=settings.seed, unit_mask=mask)
        rows.append(
            make_row("per-unit shrinkage off (inference)", "inference", "test part", off, intact, "intact")
        )
    return rows


def variant_configs(model_config, depths: tuple[int, ...]) -> dict[str, object]:
    """Label -> architecture: the intact reference, attention disabled, and each other depth at matched size."""
    from spikebridge.analysis.ablations import matched_depth_config
    from spikebridge.analysis.protocol import count_parameters
    from spikebridge.models.spike_transformer import SpikeTransformer

    def count(cfg) -> int:
        return count_parameters(SpikeTransformer(cfg))

    target = count(model_config)
    out = {
        "intact (refit)": model_config,
        "attention off (refit)": dataclasses.replace(model_config, attention=False),
    }
    for depth in depths:
        if depth != model_config.n_layers:
            out[f"depth {depth} (refit)"] = matched_depth_config(model_config, depth, count, target)
    return out


def retrained_ablations(model_config, train_config, source: PreparedRecording, target: PreparedRecording,
                        settings: AblationSettings, root: Path, log=print, progress: bool = False) -> list[AblationRow]:  # fmt: skip
    """Fit (or reuse) every variant on ``source`` at the reduced budget and score it on ``target``."""
    from spikebridge.analysis.protocol import count_parameters
    from spikebridge.experiments.explain_fits import cached_variant
    from spikebridge.experiments.scoring import score
    from spikebridge.training.predict import load_model, predict_proba

    budget = dataclasses.replace(train_config, max_epochs=settings.epochs, patience=settings.epochs)
    rows, reference = [], None
    for label, cfg in variant_configs(model_config, settings.depths).items():
        log(f"  {label}: fitting or reusing ({settings.epochs} epochs)")
        ckpt = cached_variant(cfg, budget, source, root, label.split(" (")[0].replace(" ", "-"), progress)
        model = load_model(ckpt)
        res = score(
            lambda r, m=model: predict_proba(m, r, progress=progress),
            target,
            n_boot=settings.n_boot,
            seed=settings.seed,
        )
        epochs = f"{settings.epochs} epoch{'s' if settings.epochs > 1 else ''}"
        note = f"d_model {cfg.d_model}, d_ff {cfg.d_ff}, {cfg.n_layers} layer{'s' if cfg.n_layers > 1 else ''}, {epochs}"
        n = count_parameters(model)
        if reference is None:
            reference = res
            rows.append(make_row(label, "retrained", "test part", res, n_params=n, note=note))
        else:
            rows.append(make_row(label, "retrained", "test part", res, reference, "intact (refit)", n, note))
    return rows
