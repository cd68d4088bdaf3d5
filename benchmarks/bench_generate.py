"""Real-time factor of free-running generation: simulated seconds per wall-clock second, one trial.

128 units at 1 ms bins, for the quick and the paper profile of the spike transformer (random weights:
the arithmetic does not depend on them), with three step engines measured side by side in one run:

- ``recompute``: no cache, the whole window is run through the model at every bin (what generation
  did before the cache);
- ``torch``: the model's key/value cache (``init_state`` / ``step``);
- ``numpy``: the same cache with the weights copied into numpy arrays (the default engine).

Every engine uses the same sliding context (re-encode the last ``context / 2`` bins when full), so each
prediction sees between ``context / 2`` and ``context`` bins. Cached engines run at least one full
slide cycle; the recompute engine runs ``--recompute-steps`` bins from a full window (its cost per
bin falls between the window's half and full length). The machine's load average is printed: on a
shared machine the wall-clock factor shrinks with the load; "per CPU s" divides by the CPU time this
process got instead (all its threads summed), an estimate of the factor on an idle machine.

Usage::

    python benchmarks/bench_generate.py [--threads 2] [--profiles quick,paper]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

TARGETS = {"quick": 10.0, "paper": 1.0}


def _time(model, engine: str, n_steps: int, prefix: np.ndarray) -> tuple[float, float]:
    """Simulated seconds (1 ms bins) per wall-clock second and per CPU second of this process."""
    from spikebridge.training.generate import generate

    generate(model, prefix, 64, engine=engine)  # warm-up: allocations, first calls
    start, cpu = time.perf_counter(), time.process_time()
    generate(model, prefix, n_steps, engine=engine)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return n_steps * 1e-3 / wall, n_steps * 1e-3 / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profiles", default="quick,paper")
    parser.add_argument("--recompute-steps", type=int, default=100)
    parser.add_argument("--engines", default="recompute,torch,numpy")
    args = parser.parse_args()
    import torch

    from spikebridge.models.spike_transformer import SpikeTransformer, SpikeTransformerConfig

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"threads {args.threads}; load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(
        f"{'profile':<8} {'engine':<10} {'context':>7} {'bins':>6} {'real-time factor':>17} {'per CPU s':>10}"
    )
    for profile in args.profiles.split(","):
        model = SpikeTransformer(SpikeTransformerConfig.profile(profile)).eval()
        context = model.config.max_context
        prefix = np.random.default_rng(0).random((context, 128)) < 0.02
        cycle = 2 * context + 64  # covers two re-encodings
        rtf = {}
        for engine in args.engines.split(","):
            n = args.recompute_steps if engine == "recompute" else cycle
            rtf[engine], per_cpu = _time(model, engine, n, prefix)
            print(f"{profile:<8} {engine:<10} {context:>7} {n:>6} {rtf[engine]:>17.3f} {per_cpu:>10.3f}")
        if len(rtf) < 3:
            continue
        best = max(rtf["torch"], rtf["numpy"])
        verdict = "meets" if best >= TARGETS[profile] else "misses"
        print(
            f"{profile:<8} cache / no cache: torch x{rtf['torch'] / rtf['recompute']:.1f}, numpy "
            f"x{rtf['numpy'] / rtf['recompute']:.1f}; numpy / torch x{rtf['numpy'] / rtf['torch']:.2f}; "
            f"best {best:.2f} {verdict} the target {TARGETS[profile]:g}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
