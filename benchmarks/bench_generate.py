"""Real-time factor of free-running generation: simulated seconds per wall-clock second, one trial.

128 units at 1 ms bins (random weights: the arithmetic does not depend on them), measured side by side
in one run for three models:

- ``bridge-quick``: spikebridge's bridge model, quick profile (the study's default model);
- ``paper-quick`` and ``paper-paper``: the paper's spike transformer, quick and paper profiles.

Each with and without its cache:

- with the cache: the bridge model's recurrent state (traces, time since spike) stepped in numpy
  (``numpy``, the default engine) or through torch (``torch``); the transformer's key/value cache in
  numpy (``numpy``, default) or torch (``torch``);
- ``recompute`` (no cache): the whole held window is run through the model at every bin. The
  transformer's window is its context (re-encode the last ``context / 2`` bins when full); the bridge
  model has no window limit, so it recomputes over ``--bridge-window`` bins (default 1024, its 1 s
  trace scale), sliding the same way.

Cached engines run ``--steps`` bins (default 5000: 38 slide cycles of the quick transformer, each
re-encoding half its context) after a warm-up; recompute runs ``--recompute-steps`` bins from a full
window. Each timing is repeated ``--repeats`` times and the fastest run is reported (as ``timeit``
does: slower runs measure other processes, not the engine), with the slowest beside it. The machine's load
average is printed: on a shared machine the wall-clock factor shrinks with the load; "per CPU s"
divides by the CPU time this process got instead (all threads summed), an estimate of the factor on
an idle machine. Targets: quick models >= 10, paper profile >= 1.

Usage::

    python benchmarks/bench_generate.py [--models bridge-quick,paper-quick,paper-paper]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

TARGETS = {"bridge-quick": 10.0, "paper-quick": 10.0, "paper-paper": 1.0}


def _time(
    model, engine: str, n_steps: int, prefix: np.ndarray, context: int | None, repeats: int
) -> tuple[float, float, float]:
    """Fastest and slowest real-time factor of ``repeats`` runs (simulated seconds of 1 ms bins per
    wall-clock second), and the fastest run's factor per CPU second of this process."""
    from spikebridge.training.generate import generate

    generate(model, prefix, 64, engine=engine, context=context)  # warm-up: allocations, first calls
    runs = []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        generate(model, prefix, n_steps, engine=engine, context=context)
        runs.append((time.perf_counter() - start, time.process_time() - cpu))
    fastest = min(runs)
    slowest = max(wall for wall, _ in runs)
    return n_steps * 1e-3 / fastest[0], n_steps * 1e-3 / slowest, n_steps * 1e-3 / fastest[1]


def _model(name: str, bridge_window: int):
    """(model, window of the recompute engine, context of the cached engines) of a benchmark name."""
    from spikebridge.models.bridge import BridgeModel
    from spikebridge.models.bridge_config import BridgeConfig
    from spikebridge.models.spike_transformer import SpikeTransformer, SpikeTransformerConfig

    arch, profile = name.split("-")
    if arch == "bridge":
        return BridgeModel(BridgeConfig.profile(profile)).eval(), bridge_window, None
    model = SpikeTransformer(SpikeTransformerConfig.profile(profile)).eval()
    return model, model.config.max_context, model.config.max_context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="bridge-quick,paper-quick,paper-paper")
    parser.add_argument("--recompute-steps", type=int, default=100)
    parser.add_argument("--steps", type=int, default=5000, help="bins per run of a cached engine")
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing; the fastest is reported")
    parser.add_argument("--bridge-window", type=int, default=1024)
    parser.add_argument("--engines", default="recompute,torch,numpy")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"threads {args.threads}; load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(
        f"{'model':<12} {'engine':<10} {'window':>7} {'bins':>6} {'real-time factor':>17} {'slowest':>8} "
        f"{'per CPU s':>10}"
    )
    summary = []
    for name in args.models.split(","):
        model, window, context = _model(name, args.bridge_window)
        prefix = np.random.default_rng(0).random((window, 128)) < 0.02
        rtf = {}
        for engine in args.engines.split(","):
            n = args.recompute_steps if engine == "recompute" else args.steps
            rtf[engine], slowest, per_cpu = _time(
                model, engine, n, prefix, window if engine == "recompute" else context, args.repeats
            )
            label = window if engine == "recompute" else context or "-"
            print(
                f"{name:<12} {engine:<10} {label:>7} {n:>6} {rtf[engine]:>17.3f} {slowest:>8.3f} "
                f"{per_cpu:>10.3f}"
            )
        if len(rtf) == 3:
            summary.append((name, rtf))
    for name, rtf in summary:
        best = max(rtf["torch"], rtf["numpy"])
        verdict = "meets" if best >= TARGETS[name] else "misses"
        print(
            f"{name:<12} with cache {best:.2f} (numpy {rtf['numpy']:.2f}, torch {rtf['torch']:.2f}), without "
            f"{rtf['recompute']:.3f}: cache x{best / rtf['recompute']:.0f}; {verdict} the target {TARGETS[name]:g}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
