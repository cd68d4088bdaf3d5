"""Cost of the explanation's parts, and the torch thread count it runs with, measured side by side.

On a quick-profile model (128 units, untrained: the cost does not depend on the weights) and a random
raster at the in vivo spike density, it times, in one process:

* teacher-forced prediction of 20 000 bins with 1 and with 2 torch threads (the ratio is what
  ``spikebridge explain --threads`` trades; on a busy machine extra threads only wait for each other);
* the attention analysis (``--windows`` windows), the influence matrix (``--influence-windows``
  windows, 128 output units) and the shuffle predictions (1000 query bins), each as CPU seconds
  (``time.process_time``) and wall seconds, with one thread.

Wall-clock numbers depend on the machine's load; the CPU seconds and the ratio are the comparable ones.

Usage::

    python benchmarks/bench_explain.py [--windows 64] [--influence-windows 128]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    import torch

    from spikebridge.analysis.ablations import query_bins, query_predictions
    from spikebridge.analysis.attention import analyse_attention
    from spikebridge.analysis.influence import influence_matrix
    from spikebridge.models.spike_transformer import SpikeTransformer, SpikeTransformerConfig
    from spikebridge.training.losses import get_loss
    from spikebridge.training.predict import predict_proba

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--influence-windows", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = SpikeTransformer(SpikeTransformerConfig.profile("quick", n_units=128)).eval()
    raster = np.random.default_rng(0).random((20_000, 128)) < 0.003
    mask = np.ones(128, bool)
    threads = {}
    for n in (1, 2, 1, 2):  # interleaved, so that a change of load hits both
        torch.set_num_threads(n)
        threads.setdefault(n, []).append(_timed(lambda: predict_proba(model, raster))[0])
    one, two = min(threads[1]), min(threads[2])
    print(f"predict 20000 bins: 1 thread {one:.2f} s, 2 threads {two:.2f} s, ratio 2/1 = {two / one:.2f}")
    torch.set_num_threads(1)
    parts = {
        f"attention + importance, {args.windows} windows": lambda: analyse_attention(
            model, raster, mask, get_loss("dice"), "dice", n_windows=args.windows
        ),
        f"influence, {args.influence_windows} windows x 128 units": lambda: influence_matrix(
            model, raster, mask, n_windows=args.influence_windows
        ),
        "shuffle predictions, 1000 query bins": lambda: query_predictions(
            model, raster, query_bins(len(raster), 256, 1000), mask, fraction=0.95
        ),
    }
    for name, fn in parts.items():
        wall, cpu = _timed(fn)
        print(f"{name}: {cpu:.1f} CPU s, {wall:.1f} wall s (1 thread)")


if __name__ == "__main__":
    main()
