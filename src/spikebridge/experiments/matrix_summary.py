"""Summaries of a finished matrix: N x N matrices, the paper's Table 2 grouping, margins, seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikebridge.errors import SpikebridgeDataError

GROUPS = (
    "training",
    "in vitro self",
    "in vitro others",
    "in vivo self",
    "in vivo others",
    "in vitro -> in vivo",
    "in vivo -> in vitro",
)


@dataclass(frozen=True)
class GroupStat:
    group: str
    mean: float
    sd: float
    n: int

    def to_dict(self) -> dict:
        return {"group": self.group, "mean": self.mean, "sd": self.sd, "n": self.n}


@dataclass(frozen=True)
class MatrixSummary:
    """Matrices of one finished run: ``values[(model, metric)][i, j]`` = model of i scored on j.

    Attributes
    ----------
    names : list of str
        Recordings in matrix order (in vitro first, then in vivo).
    preparations : list of str
    values : dict
        ``(model, metric) -> ndarray (n, n)``, NaN where a cell has no value.
    training : dict
        ``(model, metric) -> ndarray (n,)``: the validation value of each source's model at its best
        epoch (the paper's "training" bar), for the ROC-AUC metrics that training tracks.
    """

    names: list[str]
    preparations: list[str]
    values: dict[tuple[str, str], np.ndarray]
    training: dict[tuple[str, str], np.ndarray]

    @property
    def models(self) -> list[str]:
        return sorted({m for m, _ in self.values})

    def matrix(self, model: str, metric: str) -> np.ndarray:
        if (model, metric) not in self.values:
            raise SpikebridgeDataError(f"no {metric!r} values for model {model!r} in this matrix")
        return self.values[(model, metric)]

    def margin(self, model: str, metric: str, reference: str = "rate") -> np.ndarray:
        """Model's metric minus the target's own rate-baseline metric (column-wise reference)."""
        ref = np.diag(self.matrix(reference, metric))
        return self.matrix(model, metric) - ref[None, :]

    def versus(self, model: str, metric: str, reference: str) -> np.ndarray:
        """Cell by cell, model minus ``reference`` fitted on the same source and scored on the same target."""
        return self.matrix(model, metric) - self.matrix(reference, metric)

    def units_scored(self) -> np.ndarray | None:
        """Units scored in every cell ``(n, n)`` (columns real in both source and target), or None."""
        counts = [v for (m, k), v in self.values.items() if k == "n_units"]
        if not counts:
            return None
        return np.nanmax(np.stack(counts), axis=0)  # equal for every model of a cell

    def group_units(self) -> dict[str, tuple[float, float, float]]:
        """Per group of cells: mean, smallest and largest number of units scored (NaN when unknown)."""
        counts = self.units_scored()
        out = {}
        for group, mask in self.group_masks().items():
            v = np.array([]) if counts is None else counts[mask]
            v = v[np.isfinite(v)]
            out[group] = (float(v.mean()), float(v.min()), float(v.max())) if v.size else (np.nan,) * 3
        return out

    def group_masks(self) -> dict[str, np.ndarray]:
        vitro = np.array([p == "in_vitro" for p in self.preparations])
        vivo = np.array([p == "in_vivo" for p in self.preparations])
        eye = np.eye(len(self.names), dtype=bool)
        return {
            "in vitro self": eye & vitro[:, None],
            "in vitro others": ~eye & vitro[:, None] & vitro[None, :],
            "in vivo self": eye & vivo[:, None],
            "in vivo others": ~eye & vivo[:, None] & vivo[None, :],
            "in vitro -> in vivo": vitro[:, None] & vivo[None, :],
            "in vivo -> in vitro": vivo[:, None] & vitro[None, :],
        }

    def table2(self, model: str, metric: str, values: np.ndarray | None = None) -> list[GroupStat]:
        """Mean +/- SD of the metric per group of cells (the paper's Table 2 layout)."""
        mat = self.matrix(model, metric) if values is None else values
        missing = np.full(len(self.names), np.nan)
        rows = [
            _stat("training", missing if values is not None else self.training.get((model, metric), missing))
        ]
        for group, mask in self.group_masks().items():
            rows.append(_stat(group, mat[mask]))
        return rows

    def seeds(self, model: str, metric: str) -> list[tuple[str, float]]:
        """Sources ranked by their mean metric over the other recordings (best seed first)."""
        mat = self.matrix(model, metric)
        off = ~np.eye(len(self.names), dtype=bool)
        scores = [_finite_mean(mat[i][off[i]]) for i in range(len(self.names))]
        order = sorted(range(len(scores)), key=lambda i: -np.nan_to_num(scores[i], nan=-np.inf))
        return [(self.names[i], scores[i]) for i in order]


def _finite_mean(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    return float(v.mean()) if v.size else float("nan")


def _stat(group: str, values: np.ndarray) -> GroupStat:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return GroupStat(group, float("nan"), float("nan"), 0)
    return GroupStat(group, float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size))


def summarize_matrix(store, run: str, names: list[str], preparations: list[str]) -> MatrixSummary:
    """Build a :class:`MatrixSummary` from a run's rows in the results store."""
    order = sorted(range(len(names)), key=lambda i: (preparations[i] != "in_vitro", i))
    names = [names[i] for i in order]
    preparations = [preparations[i] for i in order]
    index = {n: i for i, n in enumerate(names)}
    values: dict[tuple[str, str], np.ndarray] = {}
    for row in store.rows(run):
        key = (row["model"], row["metric"])
        mat = values.setdefault(key, np.full((len(names), len(names)), np.nan))
        if row["source"] in index and row["target"] in index and row["value"] is not None:
            mat[index[row["source"]], index[row["target"]]] = row["value"]
    training: dict[tuple[str, str], np.ndarray] = {}
    tracked = {"roc_auc_pooled": "val_auc", "roc_auc_unit_mean": "val_auc_unit_mean"}
    for model in {m for m, _ in values}:
        vecs = {metric: np.full(len(names), np.nan) for metric in tracked}
        for name, i in index.items():
            payload = store.cell_payload(run, f"fit/{name}/{model}") or {}
            fit = payload.get("fit", {})
            row = next(
                (h for h in fit.get("history") or [] if int(h.get("epoch", -1)) == fit.get("best_epoch")),
                None,
            )
            for metric, column in tracked.items():
                if row is not None and row.get(column) is not None:
                    vecs[metric][i] = row[column]
        training.update({(model, metric): vec for metric, vec in vecs.items()})
    return MatrixSummary(names, preparations, values, training)
