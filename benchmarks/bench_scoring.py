"""Scoring time of one matrix cell: the influence-value path against the point-estimate path, side by side.

A matrix cell scores one model's test predictions with ``evaluate_predictions`` and no bootstrap
(``n_boot=0``). Before, it took the path that resampling needs: an argsort of every unit's column and a
merge of them for the pooled statistics, with an influence value for every cell, and float64 copies of
the (T, N) predictions. Now it sorts values only, counts the tie groups of the spike cells' scores,
keeps float32 predictions in float32 and sums log-likelihoods in chunks; the point estimates are the
same numbers (tests/test_scoring_speed.py compares them with a straightforward reference).

The old path is still the one a bootstrap takes; it is timed here as ``evaluate_predictions`` with
``n_boot=1`` (one resample adds a matrix product of negligible cost). Data: a seeded synthetic cell of
the shipped size (150 000 test bins x 128 units, 30 000 validation bins), spike probabilities that vary
over time like a population rhythm, scores as float32 (a neural model's output) or float64 (a
baseline's). Both paths run in alternation in this one process, ``--repeats`` times each, and the
ratio of their CPU seconds is the number to quote; wall-clock seconds grow with the machine's load
(printed).

With ``--study DIR`` (a finished study's output folder: ``DIR/models`` and the prepared recordings in
``DIR/../cache``) it times instead whole matrix score cells on real recordings and stored models, for
the (source, target) pairs of ``--pairs``: every model of the pair scored one cell at a time
(``score_cell``, one load of the target per cell), in a worker whose numpy BLAS runs one thread per
core as the study's workers did (numpy was loaded before their thread limit), then the same cells
as one group (``score_group``) with BLAS limited to one thread. torch runs one thread throughout, as
in a worker. The three paths alternate within each repeat.

Usage::

    python benchmarks/bench_scoring.py [--bins 150000] [--units 128] [--repeats 3]
    python benchmarks/bench_scoring.py --study spikebridge-out/study --pairs retina_p10:slice_210511001
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def synthetic_cell(bins: int, units: int, dtype, seed: int = 0) -> dict:
    """Seeded test and validation parts: binary spikes (T, N) and a noisy model's scores (T, N)."""
    rng = np.random.default_rng(seed)
    n_val = bins // 5
    total = bins + n_val
    rates = np.sort(rng.uniform(0.001, 0.05, units))[::-1]  # per-bin spike probability, descending
    rhythm = 1.0 + 0.8 * np.sin(np.arange(total) / 300.0)  # (T,) slow population modulation
    p_true = np.clip(rates[None, :] * rhythm[:, None], 0.0, 1.0)  # (T, N)
    spikes = rng.random((total, units)) < p_true
    scores = np.clip(p_true * rng.lognormal(0.0, 0.5, (total, units)), 1e-6, 1 - 1e-6).astype(dtype)
    return {
        "probs": scores[n_val:],
        "targets": spikes[n_val:],
        "val_probs": scores[:n_val],
        "val_targets": spikes[:n_val],
        "unit_mask": np.ones(units, dtype=bool),
        "train_rates": rates,
    }


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


STUDY_MODELS = ("bridge-bce", "paper-dice", "history", "glm", "rate")


def _values(cells: list[list[dict]]) -> np.ndarray:
    """Every metric value of the cells, in order, as floats (None is NaN)."""
    return np.array(
        [np.nan if r["value"] is None else r["value"] for rows in cells for r in rows], dtype=float
    )


def _largest_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference of two value arrays; a NaN on one side only counts as infinite."""
    if a.shape != b.shape or not np.array_equal(np.isnan(a), np.isnan(b)):
        return float("inf")
    return float(np.nanmax(np.abs(a - b), initial=0.0))


def bench_study(study: Path, pairs: list[str], repeats: int) -> None:
    """Per-cell against grouped scoring of real matrix cells (see the module docstring)."""
    import torch
    from threadpoolctl import threadpool_limits

    from spikebridge.experiments.matrix import score_cell, score_group

    torch.set_num_threads(1)
    cores = os.cpu_count() or 1
    for pair in pairs:
        src, tgt = pair.split(":")
        dirs = [str(d) for m in STUDY_MODELS for d in sorted((study / "models" / src).glob(f"{m}-*-s0"))]
        prep = str(next((study.parent / "cache").glob(f"{tgt}-*.npz")))

        def per_cell(dirs=dirs, prep=prep):
            return [score_cell(d, prep, 0, 0)["rows"] for d in dirs]

        def grouped(dirs=dirs, prep=prep):
            return [c["rows"] for c in score_group(dirs, prep, 0, 0)["cells"]]

        paths = {
            f"per cell, BLAS {cores} threads": (per_cell, cores),
            "per cell, BLAS 1 thread": (per_cell, 1),
            "group, BLAS 1 thread": (grouped, 1),
        }
        times, rows = {name: [] for name in paths}, {}
        for _ in range(repeats):
            for name, (fn, threads) in paths.items():
                with threadpool_limits(limits=threads, user_api="blas"):
                    wall, cpu = time.perf_counter(), time.process_time()
                    rows[name] = fn()
                    times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
        ref = _values(rows["group, BLAS 1 thread"])
        diff = {name: _largest_difference(_values(r), ref) for name, r in rows.items()}
        print(f"{src} -> {tgt}: {len(dirs)} cells; largest difference from the group's values: {diff}")
        for name, t in times.items():
            wall, cpu = (float(np.median(x)) for x in zip(*t, strict=True))
            print(
                f"  {name:26s} wall {wall:6.2f} s  cpu {cpu:6.2f} s  ({cpu / len(dirs):.2f} s cpu per cell)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bins", type=int, default=150_000)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--study", type=Path, default=None)
    parser.add_argument("--pairs", default="retina_p10:slice_210511001")
    args = parser.parse_args()

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if args.study is not None:
        bench_study(args.study, args.pairs.split(","), args.repeats)
        return
    from spikebridge.evaluation.metrics import evaluate_predictions

    print(f"{args.bins} bins x {args.units} units")
    for dtype in (np.float32, np.float64):
        cell = synthetic_cell(args.bins, args.units, dtype)

        def run(n_boot: int, curves: bool, cell=cell):
            return evaluate_predictions(**cell, n_boot=n_boot, block_len=1000, curves=curves)

        paths = {
            "old (influence, n_boot=1)": lambda: run(1, True),
            "new (matrix cell)": lambda: run(0, False),
        }
        for fn in paths.values():
            fn()  # warm-up: imports, allocator
        times = {name: [] for name in paths}
        for _ in range(args.repeats):
            for name, fn in paths.items():
                times[name].append(_timed(fn))
        cpu = {name: float(np.median([c for _, c in t])) for name, t in times.items()}
        for name, t in times.items():
            wall = float(np.median([w for w, _ in t]))
            print(f"{np.dtype(dtype).name:8s} {name:28s} wall {wall:6.2f} s  cpu {cpu[name]:6.2f} s")
        old, new = cpu.values()
        print(f"{np.dtype(dtype).name:8s} ratio old / new (CPU seconds): {old / new:.1f}x")


if __name__ == "__main__":
    main()
