"""Baselines for trace forecasting and response classification, on the same observations as QuantFormer.

Forecasters (``fit(train, val)`` then ``predict(obs) -> (n, L_f)`` in the observations' units):

- ``mean``: the mean of the baseline window, held constant over the response window;
- ``copy-last``: the last baseline frame, held constant;
- ``psth``: the train part's trial-averaged response of the neuron to the stimulus (falling back to
  the neuron's average over stimuli, then to the average over everything, for unseen pairs);
- ``ridge``: ridge regression from the baseline window to the response window (scikit-learn), its
  penalty chosen on the validation part.

Classifiers (``fit(train, val)`` then ``predict_proba(obs) -> (n,)`` and ``predict(obs) -> bool``):

- ``prior``: the train part's active fraction of the (neuron, stimulus) pair;
- ``logistic``: logistic regression on the baseline window and one-hot neuron and stimulus,
  class-balanced, its penalty chosen on the validation part.

Every decision threshold is chosen on the validation part (the one maximising balanced accuracy).
Nothing reads the test part.
"""

from __future__ import annotations

import numpy as np

from spikebridge.errors import SpikebridgeDataError
from spikebridge.preprocess.calcium import Observations

RIDGE_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
LOGISTIC_CS = (0.001, 0.01, 0.1, 1.0)


def balanced_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold on ``scores`` maximising balanced accuracy of ``scores >= threshold`` on ``labels``.

    Candidates are the midpoints between consecutive distinct scores (plus both ends); ties keep
    the lowest threshold. With a single class, 0.5.
    """
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    if y.all() or not y.any():
        return 0.5
    u = np.unique(s)
    cands = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2, [u[-1] + 1.0]])
    pred = s[None, :] >= cands[:, None]  # (n_cands, n)
    tpr = (pred & y).sum(axis=1) / y.sum()
    tnr = (~pred & ~y).sum(axis=1) / (~y).sum()
    return float(cands[int(np.argmax(tpr + tnr))])


class MeanForecaster:
    """Constant forecast: the mean of the baseline window."""

    name = "mean"

    def fit(self, train: Observations, val: Observations) -> MeanForecaster:
        return self

    def predict(self, obs: Observations, response_len: int | None = None) -> np.ndarray:
        length = response_len or obs.response_len
        return np.repeat(obs.baseline.mean(axis=1, keepdims=True), length, axis=1)


class CopyLastForecaster:
    """Constant forecast: the last frame of the baseline window."""

    name = "copy-last"

    def fit(self, train: Observations, val: Observations) -> CopyLastForecaster:
        return self

    def predict(self, obs: Observations, response_len: int | None = None) -> np.ndarray:
        length = response_len or obs.response_len
        return np.repeat(obs.baseline[:, -1:], length, axis=1)


def _pair_means(values: np.ndarray, obs: Observations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means of ``values`` (n, ...) per (neuron, stimulus), per neuron, and overall, with presence masks."""
    shape = values.shape[1:]
    pair = np.zeros((obs.n_neurons, obs.n_stimuli, *shape))
    count = np.zeros((obs.n_neurons, obs.n_stimuli))
    np.add.at(pair, (obs.neuron, obs.stimulus), values)
    np.add.at(count, (obs.neuron, obs.stimulus), 1)
    neuron_sum = pair.sum(axis=1)
    neuron_count = count.sum(axis=1)
    overall = values.mean(axis=0)
    expand = (...,) + (None,) * len(shape)
    pair_mean = np.where(count[expand] > 0, pair / np.maximum(count, 1)[expand], np.nan)
    neuron_mean = np.where(
        neuron_count[expand] > 0, neuron_sum / np.maximum(neuron_count, 1)[expand], overall
    )
    pair_mean = np.where(np.isnan(pair_mean), neuron_mean[:, None], pair_mean)
    return pair_mean, neuron_mean, overall


class PSTHForecaster:
    """Forecast: the train part's average response of the neuron to the stimulus (PSTH)."""

    name = "psth"

    def fit(self, train: Observations, val: Observations) -> PSTHForecaster:
        if train.n == 0:
            raise SpikebridgeDataError(f"{train.source}: no training observations for the PSTH")
        self.table_, _, _ = _pair_means(train.response.astype(np.float64), train)  # (N, S, L_f)
        return self

    def predict(self, obs: Observations, response_len: int | None = None) -> np.ndarray:
        return self.table_[obs.neuron, obs.stimulus]


class RidgeForecaster:
    """Ridge regression from the baseline window (L_b values) to the response window (L_f values)."""

    name = "ridge"

    def __init__(self, alphas: tuple[float, ...] = RIDGE_ALPHAS) -> None:
        self.alphas = alphas

    def fit(self, train: Observations, val: Observations) -> RidgeForecaster:
        from sklearn.linear_model import Ridge

        scores = {}
        for alpha in self.alphas:
            model = Ridge(alpha=alpha).fit(train.baseline, train.response)
            scores[alpha] = float(np.mean((model.predict(val.baseline) - val.response) ** 2))
        self.alpha_ = min(scores, key=scores.get)
        self.val_mse_ = scores
        self.model_ = Ridge(alpha=self.alpha_).fit(train.baseline, train.response)
        return self

    def predict(self, obs: Observations, response_len: int | None = None) -> np.ndarray:
        return self.model_.predict(obs.baseline)


class PriorClassifier:
    """P(active) = the train part's active fraction of the (neuron, stimulus) pair."""

    name = "prior"

    def fit(self, train: Observations, val: Observations) -> PriorClassifier:
        self.table_, _, _ = _pair_means(train.active.astype(np.float64), train)  # (N, S)
        self.threshold_ = balanced_threshold(self.predict_proba(val), val.active)
        return self

    def predict_proba(self, obs: Observations) -> np.ndarray:
        return self.table_[obs.neuron, obs.stimulus]

    def predict(self, obs: Observations) -> np.ndarray:
        return self.predict_proba(obs) >= self.threshold_


def _design(obs: Observations, scale: float) -> np.ndarray:
    """Baseline window (scaled) and one-hot neuron and stimulus, shape (n, L_b + N + S)."""
    onehot_n = np.eye(obs.n_neurons)[obs.neuron]
    onehot_s = np.eye(obs.n_stimuli)[obs.stimulus]
    return np.hstack([obs.baseline / scale, onehot_n, onehot_s])


class LogisticClassifier:
    """Class-balanced logistic regression on the baseline window and one-hot neuron and stimulus."""

    name = "logistic"

    def __init__(self, cs: tuple[float, ...] = LOGISTIC_CS, seed: int = 0) -> None:
        self.cs, self.seed = cs, seed

    def _model(self, c: float):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=c, class_weight="balanced", max_iter=500, random_state=self.seed)

    def fit(self, train: Observations, val: Observations) -> LogisticClassifier:
        if train.active.all() or not train.active.any():
            raise SpikebridgeDataError(
                f"{train.source}: the train part has a single class; nothing to classify"
            )
        self.scale_ = float(np.std(train.baseline)) or 1.0
        x, xv = _design(train, self.scale_), _design(val, self.scale_)
        scores = {}
        for c in self.cs:
            p = self._model(c).fit(x, train.active).predict_proba(xv)[:, 1]
            scores[c] = balanced_accuracy(p >= balanced_threshold(p, val.active), val.active)
        self.c_ = max(scores, key=scores.get)
        self.model_ = self._model(self.c_).fit(x, train.active)
        self.threshold_ = balanced_threshold(self.predict_proba(val), val.active)
        return self

    def predict_proba(self, obs: Observations) -> np.ndarray:
        return self.model_.predict_proba(_design(obs, self.scale_))[:, 1]

    def predict(self, obs: Observations) -> np.ndarray:
        return self.predict_proba(obs) >= self.threshold_


def balanced_accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    """(TPR + TNR) / 2 of boolean predictions (accuracy when ``labels`` hold one class)."""
    y = np.asarray(labels, dtype=bool)
    if y.all() or not y.any():
        return float(np.mean(pred == y))
    return 0.5 * (float(pred[y].mean()) + float((~pred[~y]).mean()))


FORECASTERS = {"mean": MeanForecaster, "copy-last": CopyLastForecaster, "psth": PSTHForecaster,
               "ridge": RidgeForecaster}  # fmt: skip
CLASSIFIERS = {"prior": PriorClassifier, "logistic": LogisticClassifier}
