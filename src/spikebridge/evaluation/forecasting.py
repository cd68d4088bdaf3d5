"""Metrics of trace forecasting and response classification, per trace and summarised over neurons.

Forecasting metrics compare a forecast ``y_hat`` with the recorded response ``y`` (one trace = one
observation's response window of ``T`` frames); each is computed per trace, then averaged:

- MSE   = mean_t (y_hat_t - y_t)^2
- MAE   = mean_t |y_hat_t - y_t|
- SMAPE = mean_t 2 |y_hat_t - y_t| / (|y_hat_t| + |y_t|), a term with both values 0 counting 0 (range [0, 2])
- r     = signed Pearson correlation sum_t (y_hat_t - mean y_hat)(y_t - mean y) / (T sd(y_hat) sd(y)).
          Undefined (NaN) when the recorded trace is constant; 0 when only the forecast is constant
          (a forecast without variation explains none of the trace's variation).
- SSIM  = mean over windows w of 7 consecutive frames of
          (2 mu_a mu_b + C1)(2 cov_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2)),
          sample (co)variances, C1 = (0.01 R)^2, C2 = (0.03 R)^2, R = max(y) - min(y) (Wang et al.
          2004 on one dimension); undefined when R = 0.

The paper's derivative-normalised signals divide each trace by its accumulated absolute derivative,
``x / sum_t |x_{t+1} - x_t|`` (forecast and recording separately); a constant trace cannot be
normalised, so every normalised metric of a constant forecast is undefined (NaN, counted).

Classification: balanced accuracy = (TPR + TNR) / 2, precision = TP / (TP + FP), recall = TP / (TP + FN),
F1 = 2 precision recall / (precision + recall) (0 when undefined), from scikit-learn.

Summaries: the value is the mean over the defined traces; its 95% interval comes from a cluster
bootstrap over neurons (traces of one neuron are resampled together, since windows of one neuron
overlap in time and share its state).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from spikebridge.evaluation.bootstrap import percentile_interval

FORECAST_METRICS = ("mse", "mae", "smape", "pearson", "ssim")
LOWER_IS_BETTER = {"mse": True, "mae": True, "smape": True, "pearson": False, "ssim": False}
CLASSIFICATION_METRICS = ("balanced_accuracy", "precision", "recall", "f1")
SSIM_WINDOW = 7


def _pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, y = (
        np.atleast_2d(np.asarray(pred, dtype=np.float64)),
        np.atleast_2d(np.asarray(target, dtype=np.float64)),
    )
    if p.shape != y.shape:
        raise ValueError(f"forecast {p.shape} and target {y.shape} differ in shape")
    return p, y


def mse(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-trace mean squared error, shape (n,), for (n, T) arrays."""
    p, y = _pair(pred, target)
    return np.mean((p - y) ** 2, axis=1)


def mae(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-trace mean absolute error, shape (n,)."""
    p, y = _pair(pred, target)
    return np.mean(np.abs(p - y), axis=1)


def smape(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-trace symmetric mean absolute percentage error in [0, 2], shape (n,)."""
    p, y = _pair(pred, target)
    den = np.abs(p) + np.abs(y)
    terms = np.divide(2.0 * np.abs(p - y), den, out=np.zeros_like(den), where=den > 0)
    return terms.mean(axis=1)


def pearson(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-trace signed Pearson r, shape (n,); NaN for a constant target, 0 for a constant forecast only."""
    p, y = _pair(pred, target)
    pc, yc = p - p.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    sp, sy = np.sqrt((pc**2).sum(axis=1)), np.sqrt((yc**2).sum(axis=1))
    r = np.divide((pc * yc).sum(axis=1), sp * sy, out=np.zeros(len(p)), where=(sp > 0) & (sy > 0))
    r[sy == 0] = np.nan
    return np.clip(r, -1.0, 1.0)


def _window_sums(x: np.ndarray, w: int) -> np.ndarray:
    """Sums of every ``w`` consecutive frames of each row: (n, T) -> (n, T - w + 1)."""
    c = np.cumsum(x, axis=1)
    return np.concatenate([c[:, w - 1 : w], c[:, w:] - c[:, :-w]], axis=1)


def ssim(pred: np.ndarray, target: np.ndarray, window: int = SSIM_WINDOW) -> np.ndarray:
    """Per-trace structural similarity (1-D, uniform window), shape (n,); NaN when the target is flat.

    Window means, variances (ddof 1) and covariances come from running sums; the variances and
    covariances use each trace minus its own mean, which they do not depend on, to keep the sums small.
    """
    p, y = _pair(pred, target)
    w = min(window, p.shape[1])
    pc, yc = p - p.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    mu_a, mu_b = _window_sums(p, w) / w, _window_sums(y, w) / w  # (n, T - w + 1)
    sa, sb = _window_sums(pc, w), _window_sums(yc, w)
    dof = max(w - (1 if w > 1 else 0), 1)
    var_a = np.maximum(_window_sums(pc * pc, w) - sa * sa / w, 0.0) / dof
    var_b = np.maximum(_window_sums(yc * yc, w) - sb * sb / w, 0.0) / dof
    cov = (_window_sums(pc * yc, w) - sa * sb / w) / dof
    rng = (y.max(axis=1) - y.min(axis=1))[:, None]  # (n, 1)
    c1, c2 = (0.01 * rng) ** 2, (0.03 * rng) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2) + 1e-300)
    out = s.mean(axis=1)
    out[rng[:, 0] == 0] = np.nan
    return out


def derivative_normalise(x: np.ndarray) -> np.ndarray:
    """``x / sum_t |x_{t+1} - x_t|`` per row, shape (n, T); rows with no change are NaN."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    total = np.abs(np.diff(x, axis=1)).sum(axis=1, keepdims=True)
    return np.divide(x, total, out=np.full_like(x, np.nan), where=total > 0)


def trace_metrics(pred: np.ndarray, target: np.ndarray, normalised: bool = False) -> dict[str, np.ndarray]:
    """Every forecasting metric per trace, each of shape (n,); raw or derivative-normalised."""
    p, y = _pair(pred, target)
    if normalised:
        p, y = derivative_normalise(p), derivative_normalise(y)
        bad = ~(np.isfinite(p).all(axis=1) & np.isfinite(y).all(axis=1))
        p, y = np.where(bad[:, None], 0.0, p), np.where(bad[:, None], 0.0, y)
    out = {
        "mse": mse(p, y),
        "mae": mae(p, y),
        "smape": smape(p, y),
        "pearson": pearson(p, y),
        "ssim": ssim(p, y),
    }
    if normalised:
        for values in out.values():
            values[bad] = np.nan
    return out


def classification_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Balanced accuracy, precision, recall and F1 of boolean predictions (scikit-learn)."""
    from sklearn.metrics import balanced_accuracy_score, f1_score, precision_score, recall_score

    p, y = np.asarray(pred, dtype=bool), np.asarray(target, dtype=bool)
    if y.all() or not y.any():
        ba = float(np.mean(p == y))  # one class only: balanced accuracy reduces to accuracy
    else:
        ba = float(balanced_accuracy_score(y, p))
    return {"balanced_accuracy": ba, "precision": float(precision_score(y, p, zero_division=0)),
            "recall": float(recall_score(y, p, zero_division=0)), "f1": float(f1_score(y, p, zero_division=0))}  # fmt: skip


@dataclass(frozen=True)
class MetricSummary:
    """A metric over test traces: mean of the defined traces and a neuron-cluster bootstrap interval."""

    value: float
    ci_low: float
    ci_high: float
    n: int
    n_undefined: int

    def to_dict(self) -> dict:
        return {
            k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()
        }


def per_neuron_means(values: np.ndarray, neuron: np.ndarray, n_neurons: int) -> np.ndarray:
    """Mean of the finite values of every neuron, shape (n_neurons,); NaN for neurons without one."""
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    sums = np.bincount(neuron[ok], weights=values[ok], minlength=n_neurons)
    counts = np.bincount(neuron[ok], minlength=n_neurons)
    return np.divide(sums, counts, out=np.full(n_neurons, np.nan), where=counts > 0)


def _neuron_draws(neuron: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each observation's neuron position (n,) and how often each neuron is drawn in each bootstrap
    resample of the neurons, shape (n_boot, n_neurons present)."""
    ids, inverse = np.unique(neuron, return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, ids.size, size=(n_boot, ids.size))  # (n_boot, n_ids)
    counts = (
        np.stack([np.bincount(d, minlength=ids.size) for d in draws]) if n_boot else np.zeros((0, ids.size))
    )
    return inverse, counts


def _resampled_sums(counts: np.ndarray, inverse: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sum of ``values`` (n,) over each resample's observations, shape (n_boot,): every observation
    counts as often as its neuron was drawn (per-neuron sums first, so the cost does not grow with n)."""
    return counts @ np.bincount(inverse, weights=values, minlength=counts.shape[1])


def summarise(values: np.ndarray, neuron: np.ndarray, n_boot: int = 1000, seed: int = 0) -> MetricSummary:
    """Mean over the finite per-trace ``values`` with a 95% cluster-bootstrap interval over neurons."""
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    if not ok.any():
        return MetricSummary(float("nan"), float("nan"), float("nan"), 0, int(values.size))
    v, nrn = values[ok], np.asarray(neuron)[ok]
    inverse, counts = _neuron_draws(nrn, n_boot, seed)
    total = _resampled_sums(counts, inverse, np.ones_like(v))
    reps = np.divide(
        _resampled_sums(counts, inverse, v), total, out=np.full(len(counts), np.nan), where=total > 0
    )
    low, high = percentile_interval(reps)
    return MetricSummary(float(v.mean()), float(low), float(high), int(v.size), int((~ok).sum()))


def _weighted_classification(
    pred: np.ndarray, target: np.ndarray, inverse: np.ndarray, counts: np.ndarray
) -> dict[str, np.ndarray]:
    """The classification metrics of every bootstrap resample of neurons (see :func:`_neuron_draws`) at once."""
    p, y = np.asarray(pred, dtype=bool), np.asarray(target, dtype=bool)
    tp, fp = (_resampled_sums(counts, inverse, (p & c).astype(float)) for c in (y, ~y))
    fn, tn = (_resampled_sums(counts, inverse, (~p & c).astype(float)) for c in (y, ~y))
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr, tnr = tp / (tp + fn), tn / (tn + fp)
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tpr, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        ba = np.where(np.isfinite(tpr) & np.isfinite(tnr), (tpr + tnr) / 2, np.nan)
    return {"balanced_accuracy": ba, "precision": precision, "recall": recall, "f1": f1}


def summarise_classification(
    pred: np.ndarray, target: np.ndarray, neuron: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> dict[str, MetricSummary]:
    """Classification metrics with 95% cluster-bootstrap intervals over neurons."""
    point = classification_metrics(pred, target)
    reps = _weighted_classification(pred, target, *_neuron_draws(np.asarray(neuron), n_boot, seed))
    out = {}
    for name in CLASSIFICATION_METRICS:
        low, high = percentile_interval(reps[name])
        out[name] = MetricSummary(point[name], float(low), float(high), int(np.size(target)), 0)
    return out


@dataclass(frozen=True)
class CodebookUsage:
    """How the K codes are used: counts, perplexity exp(H) (K for uniform use, 1 for one code), dead codes."""

    counts: tuple[int, ...]
    perplexity: float
    dead_codes: int

    def to_dict(self) -> dict:
        return asdict(self)


def codebook_usage(indices: np.ndarray, codebook_size: int) -> CodebookUsage:
    """Usage of the codes in ``indices`` (any shape of ints in [0, K))."""
    counts = np.bincount(np.asarray(indices).ravel(), minlength=codebook_size)
    p = counts / max(counts.sum(), 1)
    entropy = -np.sum(p[p > 0] * np.log(p[p > 0]))
    return CodebookUsage(tuple(int(c) for c in counts), float(np.exp(entropy)), int((counts == 0).sum()))
