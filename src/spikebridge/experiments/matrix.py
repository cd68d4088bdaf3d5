"""The cross-recording generation matrix (the seed paper's Table 2 and Fig. 3) as resumable units of work.

Every source recording x model is fitted once (a ``fit`` cell); every fitted model then predicts
every target recording's test part from the target's own past (a ``score`` cell). Each cell's
result is written to the results store in one transaction, so a run killed at any point resumes
by computing only the cells that are missing, and ends with the same matrix.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.experiments.executors import Task, run_tasks
from spikebridge.experiments.prepared import get_prepared, recording_key
from spikebridge.experiments.scoring import outputs_probabilities, score
from spikebridge.experiments.store import ResultRow, ResultsStore
from spikebridge.experiments.zoo import ModelSpec, fitted_model_dir, load_predictor, scored_columns
from spikebridge.preprocess.prepare import PrepareConfig, load_prepared
from spikebridge.progress import time_left
from spikebridge.provenance import config_hash

DEFAULT_MODELS = ("bridge-bce", "paper-dice", "paper-focal", "history", "glm")


@dataclass(frozen=True)
class MatrixConfig:
    """What the matrix covers and how its cells are computed.

    Attributes
    ----------
    recordings : tuple of str
        Catalog names or paths; each is both a source and a target.
    models : tuple of str
        Canonical model names (``bridge-bce``, ``paper-dice``, ``history``, ...). The ``rate``
        baseline is always added: its diagonal is every target's own-rate reference.
    profile, seed, max_epochs
        Neural model size profile, seed, epoch limit (None: the profile's).
    n_boot : int
        Bootstrap resamples per cell (0: point estimates; the matrix summarises over cells).
    prepare : PrepareConfig
    """

    recordings: tuple[str, ...]
    models: tuple[str, ...] = DEFAULT_MODELS
    profile: str = "quick"
    seed: int = 0
    max_epochs: int | None = None
    n_boot: int = 0
    prepare: PrepareConfig = field(default_factory=PrepareConfig)

    def __post_init__(self) -> None:
        if len(self.recordings) < 1:
            raise SpikebridgeConfigError("the matrix needs at least one recording")
        if len(set(self.recordings)) != len(self.recordings):
            raise SpikebridgeConfigError("the matrix's recordings must be distinct")
        models = tuple(dict.fromkeys((*(ModelSpec.parse(m).name for m in self.models), "rate")))
        object.__setattr__(self, "models", models)
        for m in models:
            self.spec(m)

    def spec(self, model: str) -> ModelSpec:
        return ModelSpec.parse(model, profile=self.profile, seed=self.seed, max_epochs=self.max_epochs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recordings": list(self.recordings),
            "models": list(self.models),
            "profile": self.profile,
            "seed": self.seed,
            "max_epochs": self.max_epochs,
            "n_boot": self.n_boot,
            "prepare": self.prepare.to_dict(),
        }

    @property
    def run(self) -> str:
        """Run name in the store: the same configuration always resumes the same run."""
        return f"matrix-{config_hash(self.to_dict())}"


def fit_cell(spec: dict, prep_path: str, model_dir: str) -> dict:
    """Unit of work: fit one model on one source (runs in a worker).

    A model already in the store (fitted by another stage of a study, or an earlier run) is reused;
    the payload then says ``"reused": True``.
    """
    from spikebridge.experiments.zoo import fit_or_reuse

    return fit_or_reuse(ModelSpec.from_dict(spec), load_prepared(prep_path), Path(model_dir))


def score_cell(model_dir: str, prep_path: str, n_boot: int, seed: int) -> dict:
    """Unit of work: score one fitted model on one target's test part (runs in a worker).

    Only the columns real in both the source and the target are read and scored (a source's padding
    columns never learned anything); the number scored is the row ``n_units``.
    """
    group = score_group((model_dir,), prep_path, n_boot, seed)
    return {**group["cells"][0], "target_hash": group["target_hash"]}


def score_group(model_dirs: Sequence[str], prep_path: str, n_boot: int, seed: int) -> dict:
    """Unit of work: score several fitted models on one target's test part (runs in a worker).

    Each model is scored exactly as :func:`score_cell` alone would score it: the target is read,
    checked and hashed once, and the bootstrap block length is chosen once per set of scored
    columns (it depends on the test targets and those columns only). Returns
    ``{"target_hash": str, "cells": [{"rows", "source_hash", "seconds"}, ...]}``, one cell per
    ``model_dirs`` entry in order; a cell's ``seconds`` include its share of the reading.
    """
    from spikebridge.evaluation.bootstrap import choose_block_length

    start = time.perf_counter()
    target = load_prepared(prep_path)
    target_hash = target.data_hash()
    shared = (time.perf_counter() - start) / max(1, len(model_dirs))
    blocks: dict[bytes, int] = {}  # scored-column mask -> block length in bins
    cells = []
    for model_dir in model_dirs:
        t0 = time.perf_counter()
        predict, payload = load_predictor(Path(model_dir), target=target, target_hash=target_hash)
        mask = scored_columns(payload, target)
        if mask.tobytes() not in blocks:
            choice = choose_block_length(target.test.data, mask, target.test.bin_size, source="test targets")
            blocks[mask.tobytes()] = choice.bins
        result = score(predict, target, n_boot=n_boot, seed=seed, block_len=blocks[mask.tobytes()],
                       unit_mask=mask, probabilistic=outputs_probabilities(payload["spec"]["name"]),
                       curves=False)  # fmt: skip
        cells.append({
            "rows": [*result.to_rows(), {"metric": "n_units", "value": float(result.n_units)}],
            "source_hash": payload["data_hash"],
            "seconds": time.perf_counter() - t0 + shared,
        })  # fmt: skip
    return {"target_hash": target_hash, "cells": cells}


def _after_fits(fits: list[Task], scores: list[Task]) -> tuple[list[Task], Callable]:
    """The tasks ready now (every fit, then the score groups of sources with no fit left) and a
    ``then`` callback for :func:`run_tasks` that releases a source's score groups once its last
    fit has finished, so scoring overlaps the remaining fits instead of waiting for all of them."""
    waiting: dict[str, set[str]] = {}
    for task in fits:
        waiting.setdefault(task.key.split("/")[1], set()).add(task.key)  # fit/SOURCE/MODEL
    held = [t for t in scores if t.meta["source"] in waiting]

    def then(task: Task, result: Any) -> list[Task]:
        source = task.key.split("/")[1]
        if not task.key.startswith("fit/") or source not in waiting:
            return []
        waiting[source].discard(task.key)
        if waiting[source]:
            return []
        del waiting[source]
        return [t for t in held if t.meta["source"] == source]

    return [*fits, *(t for t in scores if t.meta["source"] not in waiting)], then


@dataclass
class MatrixRun:
    """Driver of one matrix run: plans the cells, runs the missing ones, writes each as it finishes."""

    config: MatrixConfig
    out_dir: Path
    data_root: Path | None = None
    log: Callable[[str], None] = print
    models_root: Path | None = None

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.store = ResultsStore(self.out_dir / "results.sqlite")
        self.keys = {r: recording_key(r) for r in self.config.recordings}
        self.prep_paths: dict[str, str] = {}
        self.preps: dict[str, Any] = {}

    def prepare_all(self) -> None:
        for rec in self.config.recordings:
            prep, path = get_prepared(rec, self.config.prepare, data_root=self.data_root)
            self.prep_paths[rec], self.preps[rec] = str(path), prep

    def model_dir(self, source: str, model: str) -> Path:
        """The model's folder in the model store under ``models_root`` (shared with a study's other stages)."""
        return fitted_model_dir(self.models_root or self.out_dir, self.keys[source], self.config.spec(model))

    def fit_tasks(self, done: set[str]) -> list[Task]:
        tasks = []
        for src in self.config.recordings:
            for model in self.config.models:
                key = f"fit/{self.keys[src]}/{model}"
                if key not in done:
                    args = (
                        self.config.spec(model).to_dict(),
                        self.prep_paths[src],
                        str(self.model_dir(src, model)),
                    )
                    tasks.append(Task(key, fit_cell, args, wants_gpu=self.config.spec(model).is_neural))
        return tasks

    def score_tasks(self, done: set[str]) -> list[Task]:
        """One unit of work per (source, target) pair: that source's models not yet scored on that target.

        The store keeps one cell per (source, model, target), so a run killed inside a group resumes
        with the group's missing models only.
        """
        tasks = []
        for src in self.config.recordings:
            for tgt in self.config.recordings:
                models = [m for m in self.config.models if self.score_key(src, m, tgt) not in done]
                if not models:
                    continue
                dirs = tuple(str(self.model_dir(src, m)) for m in models)
                meta = {"source": self.keys[src], "target": self.keys[tgt], "models": models}
                neural = any(self.config.spec(m).is_neural for m in models)
                args = (dirs, self.prep_paths[tgt], self.config.n_boot, self.config.seed)
                key = f"score/{self.keys[src]}/{self.keys[tgt]}"
                tasks.append(Task(key, score_group, args, wants_gpu=neural, meta=meta))
        return tasks

    def score_key(self, source: str, model: str, target: str) -> str:
        """Store key of one score cell."""
        return f"score/{self.keys[source]}/{model}/{self.keys[target]}"

    def execute(
        self, executor: str = "local", workers: int | None = None, address: str | None = None
    ) -> dict:
        """Run every missing cell; returns counts of computed and skipped cells, of fits taken from the
        model store (``from_store``: fitted by another stage or run, not counted as computed) and the wall
        time."""
        start = time.perf_counter()
        self.prepare_all()
        run = self.config.run
        if self.store.cell_payload(run, "config") != self.config.to_dict():  # a resumed run rewrites nothing
            self.store.write_cell(run, "config", [], payload=self.config.to_dict())
        done = self.store.finished_cells(run)
        fits, scores = self.fit_tasks(done), self.score_tasks(done)
        skipped = 0
        for stage, tasks in (("fit", fits), ("score", scores)):
            n_cells = sum(len(t.meta.get("models", [None])) for t in tasks)
            finished = sum(1 for k in done if k.startswith(stage + "/"))
            skipped += finished
            self.log(f"{stage}: {n_cells} cells to compute, {finished} already finished"
                     + (f" ({len(tasks)} units of work)" if stage == "score" else ""))  # fmt: skip
        computed, from_store = {"fit": 0, "score": 0}, 0
        ready, then = _after_fits(fits, scores)
        t_stage, n_tasks = time.perf_counter(), len(fits) + len(scores)
        for i, (task, result) in enumerate(run_tasks(ready, executor, workers, address, then), start=1):
            keys = self._write(run, task, result)
            stage = task.key.split("/")[0]
            if result.get("reused"):
                from_store += 1
            else:
                computed[stage] += len(keys)
            left = time_left(i, n_tasks, time.perf_counter() - t_stage)
            cells = result.get("cells", [result])
            seconds = sum(c.get("seconds", 0.0) for c in cells)
            what = f"{len(cells)} model{'s' * (len(cells) != 1)}, " if stage == "score" else ""
            took = "reused from the model store" if result.get("reused") else f"{seconds:.1f} s"
            self.log(f"  [{i}/{n_tasks}] {task.key} ({what}{took}; {left})")
        seconds = time.perf_counter() - start
        return {
            "computed": computed,
            "skipped": skipped,
            "from_store": from_store,
            "seconds": seconds,
            "run": run,
        }

    def _write(self, run: str, task: Task, result: dict) -> list[str]:
        """Write the cells of one finished unit of work, each in its own transaction; returns their keys."""
        if task.key.startswith("fit/"):
            self.store.write_cell(run, task.key, [], payload=json.loads(json.dumps(result, default=str)))
            return [task.key]
        meta = task.meta
        config = {"matrix": run, "profile": self.config.profile, "seed": self.config.seed}
        keys = []
        for model, cell in zip(meta["models"], result["cells"], strict=True):
            data_hash = f"{cell['source_hash']}:{result['target_hash']}"
            rows = [
                ResultRow(
                    model,
                    meta["source"],
                    meta["target"],
                    r["metric"],
                    r["value"],
                    r.get("ci_low"),
                    r.get("ci_high"),
                    config,
                    data_hash,
                )  # fmt: skip
                for r in cell["rows"]
            ]
            key = f"score/{meta['source']}/{model}/{meta['target']}"
            self.store.write_cell(
                run, key, rows, payload={"seconds": cell["seconds"]}, seconds=cell["seconds"]
            )
            keys.append(key)
        return keys
