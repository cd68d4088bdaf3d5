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

Usage::

    python benchmarks/bench_scoring.py [--bins 150000] [--units 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bins", type=int, default=150_000)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from spikebridge.evaluation.metrics import evaluate_predictions

    print(
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.bins} bins x {args.units} units"
    )
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
