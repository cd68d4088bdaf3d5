"""Training and prediction speed of spikebridge's own model against the paper model, side by side.

128 units at 1 ms bins, random weights and a random raster (the arithmetic does not depend on them),
both models at the same context: training windows of ``--window`` bins, ``--batch`` windows per step,
one AdamW step per batch with the BCE loss (the quick profiles of both architectures). Printed:

- training bins per second (window x batch / seconds per optimiser step), wall clock and per CPU
  second of this process (all its threads summed, an estimate for an idle machine);
- the bridge model's one-off feature pass over the training raster (bins per second), which the
  training windows then read;
- teacher-forced prediction bins per second (``predict_proba`` over ``--predict-bins`` bins; the
  paper model with its default sliding windows, the bridge model in one stateful pass).

On a shared machine the wall-clock numbers shrink with the load (the load average is printed); the
ratios are measured in one run, in alternation, and are the numbers to quote.

Usage::

    python benchmarks/bench_bridge.py [--threads 2] [--steps 20] [--window 256] [--batch 16]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _timed(fn, repeats: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds per call of ``fn`` (after one warm-up call)."""
    fn()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - wall) / repeats, (time.process_time() - cpu) / repeats


def _bridge(raster: np.ndarray, window: int, batch: int):
    import torch
    import torch.nn.functional as F

    from spikebridge.models.registry import architecture
    from spikebridge.training.bridge_data import BankWindows, FeatureBank

    model = architecture("bridge").build(architecture("bridge").make_config("quick", n_units=raster.shape[1]))
    mask = np.ones(raster.shape[1], bool)
    model.fit_standardization(torch.from_numpy(raster.astype(np.float32)), torch.from_numpy(mask))
    start = time.perf_counter()
    bank = FeatureBank(model, raster, mask)
    bank_seconds = time.perf_counter() - start
    windows = BankWindows(bank, window, 1, bank.n_bins, n_windows=batch, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        items = [windows[i] for i in range(batch)]
        data = {k: torch.stack([it[k] for it in items]) for k in items[0]}  # each (B, ...)
        shared, column, _ = model.parts(data)
        loss = F.binary_cross_entropy_with_logits(shared + column, data["targets"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return model, step, raster.shape[0] / bank_seconds


def _paper(raster: np.ndarray, window: int, batch: int):
    import torch
    import torch.nn.functional as F

    from spikebridge.models.registry import architecture

    cfg = architecture("paper").make_config("quick", n_units=raster.shape[1])
    model = architecture("paper").build(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.from_numpy(raster.astype(np.float32))
    rng = np.random.default_rng(0)

    def step() -> None:
        starts = rng.integers(0, raster.shape[0] - window - 1, batch)
        inputs = torch.stack([x[s : s + window] for s in starts])  # (B, W, N)
        targets = torch.stack([x[s + 1 : s + window + 1] for s in starts])
        loss = F.binary_cross_entropy_with_logits(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return model, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20, help="Optimiser steps timed per model and round.")
    parser.add_argument("--rounds", type=int, default=2, help="Alternating rounds (bridge, paper, ...).")
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--train-bins", type=int, default=60_000)
    parser.add_argument("--predict-bins", type=int, default=30_000)
    args = parser.parse_args()
    import torch

    from spikebridge.training.predict import predict_proba

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    raster = np.random.default_rng(0).random((args.train_bins, 128)) < 0.02  # (T, N)
    print(f"threads {args.threads}; load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    bridge, bridge_step, bank_rate = _bridge(raster, args.window, args.batch)
    paper, paper_step = _paper(raster, args.window, args.batch)
    bins = args.window * args.batch
    train = {"bridge": [], "paper": []}
    for _ in range(args.rounds):
        for name, step in (("bridge", bridge_step), ("paper", paper_step)):
            train[name].append(_timed(step, args.steps))
    predict = {}
    test = raster[: args.predict_bins]
    for name, model in (("bridge", bridge), ("paper", paper)):
        model.eval()
        predict[name] = _timed(lambda m=model: predict_proba(m, test), 1)
    print(f"{'model':<8} {'train bins/s':>13} {'per CPU s':>10} {'predict bins/s':>15} {'per CPU s':>10}")
    rates = {}
    for name in ("bridge", "paper"):
        wall = float(np.median([w for w, _ in train[name]]))
        cpu = float(np.median([c for _, c in train[name]]))
        pw, pc = predict[name]
        rates[name] = (bins / wall, args.predict_bins / pw)
        print(f"{name:<8} {bins / wall:>13.0f} {bins / cpu:>10.0f} {args.predict_bins / pw:>15.0f} "
              f"{args.predict_bins / pc:>10.0f}")  # fmt: skip
    print(
        f"bridge feature pass: {bank_rate:.0f} bins/s (once per fit, over the training and validation parts)"
    )
    print(
        f"bridge / paper at window {args.window}, batch {args.batch}: training x{rates['bridge'][0] / rates['paper'][0]:.2f}, "
        f"prediction x{rates['bridge'][1] / rates['paper'][1]:.2f}"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
