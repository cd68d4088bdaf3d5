"""The results store: one SQLite file holding tidy metric rows and the state of units of work.

Schema
------
``results`` (one row per model x source x target x metric):
    run TEXT          name of the run (e.g. "evaluate", "matrix")
    cell TEXT         the unit of work that produced the row
    model TEXT        e.g. "bridge-bce", "paper-dice", "rate", "glm"
    source TEXT       recording the model was trained on
    target TEXT       recording whose test part was scored
    metric TEXT       e.g. "roc_auc_pooled", "roc_auc_unit_mean", "ap_pooled", "bits_per_spike_nlb_pooled";
                      every name and its meaning: ``spikebridge.evaluation.metrics.METRICS``
    value REAL, ci_low REAL, ci_high REAL   estimate and 95% block-bootstrap interval (NULL if none)
    config TEXT       JSON of the model / training / preparation configuration
    data_hash TEXT    hash of the prepared source and target rasters
    package_version TEXT, git_commit TEXT, created_at TEXT
``cells`` (one row per finished unit of work):
    run TEXT, cell TEXT (primary key together), payload TEXT (JSON), seconds REAL, finished_at TEXT

A cell's rows and its ``cells`` row are written in one transaction, so a killed run leaves every
cell either complete or absent, and a re-run skips the complete ones.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikebridge.provenance import stamp

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    run TEXT NOT NULL, cell TEXT NOT NULL, model TEXT NOT NULL, source TEXT NOT NULL,
    target TEXT NOT NULL, metric TEXT NOT NULL, value REAL, ci_low REAL, ci_high REAL,
    config TEXT, data_hash TEXT, package_version TEXT, git_commit TEXT, created_at TEXT
);
CREATE INDEX IF NOT EXISTS results_by_run ON results (run, model, source, target, metric);
CREATE TABLE IF NOT EXISTS cells (
    run TEXT NOT NULL, cell TEXT NOT NULL, payload TEXT, seconds REAL, finished_at TEXT,
    PRIMARY KEY (run, cell)
);
"""

ROW_KEYS = ("model", "source", "target", "metric", "value", "ci_low", "ci_high", "config", "data_hash")


@dataclass(frozen=True)
class ResultRow:
    """One tidy metric row."""

    model: str
    source: str
    target: str
    metric: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    config: dict[str, Any] | None = None
    data_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ROW_KEYS}


class ResultsStore:
    """A SQLite results file (created on first use); safe to share between processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60.0)
        con.execute("PRAGMA journal_mode=WAL")
        return con

    def finished_cells(self, run: str) -> set[str]:
        """Cells of ``run`` whose results are complete."""
        with self._connect() as con:
            return {r[0] for r in con.execute("SELECT cell FROM cells WHERE run = ?", (run,))}

    def cell_payload(self, run: str, cell: str) -> dict | None:
        with self._connect() as con:
            row = con.execute("SELECT payload FROM cells WHERE run = ? AND cell = ?", (run, cell)).fetchone()
        return None if row is None else json.loads(row[0])

    def write_cell(
        self,
        run: str,
        cell: str,
        rows: Iterable[ResultRow],
        payload: dict | None = None,
        seconds: float = 0.0,
    ) -> None:
        """Replace the rows of ``cell`` and mark it finished, in one transaction."""
        prov = stamp()
        records = [
            (
                run,
                cell,
                r.model,
                r.source,
                r.target,
                r.metric,
                _num(r.value),
                _num(r.ci_low),
                _num(r.ci_high),
                json.dumps(r.config or {}, sort_keys=True, default=str),
                r.data_hash,
                prov["package_version"],
                prov["git_commit"],
                prov["created_at"],
            )
            for r in rows
        ]
        con = self._connect()
        try:
            with con:
                con.execute("DELETE FROM results WHERE run = ? AND cell = ?", (run, cell))
                con.executemany(f"INSERT INTO results VALUES ({', '.join('?' * 14)})", records)
                con.execute(
                    "INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, ?)",
                    (run, cell, json.dumps(payload or {}, default=str), seconds, prov["created_at"]),
                )
        finally:
            con.close()

    def rows(self, run: str | None = None, **where: str) -> list[dict[str, Any]]:
        """Result rows as dicts, filtered by run and by equality on any column."""
        clauses, params = [], []
        if run is not None:
            clauses.append("run = ?")
            params.append(run)
        for key, value in where.items():
            if key not in ROW_KEYS:
                raise KeyError(key)
            clauses.append(f"{key} = ?")
            params.append(value)
        sql = "SELECT * FROM results" + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
        con = self._connect()
        try:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql + " ORDER BY rowid", params)]
        finally:
            con.close()


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value else value  # NaN -> NULL
