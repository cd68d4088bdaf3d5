"""Training-step time of QuantFormer's pre-training at 1 and 2 torch threads, side by side.

The study runs with one torch thread by default: its models are small (the ``quick`` profile: width 64,
2 + 2 layers, patches of 16 frames, batches of 128 windows), and on a CPU shared with other work a
second OpenMP thread mostly waits. This script measures the ratio in one run, alternating the two
settings so that both see the same machine load, and prints it with the load average.

Usage::

    python benchmarks/bench_quantformer.py [--profile quick] [--steps 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import time


def _step_time(model, opt, batch, steps: int) -> float:
    import torch

    base, resp = batch
    start = time.perf_counter()
    for _ in range(steps):
        mask = torch.rand(base.shape[0], model.cfg.n_patches) < 0.2
        rec, q = model(base, resp, mask)
        loss = ((rec - torch.cat([base, resp], 1)) ** 2).mean() + q.codebook_loss + 0.25 * q.commitment_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    import torch

    from spikebridge.models.quantformer import QuantFormer, QuantFormerConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = QuantFormer(QuantFormerConfig.profile(args.profile)).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = (torch.randn(args.batch, model.cfg.baseline_len), torch.randn(args.batch, model.cfg.response_len))
    _step_time(model, opt, batch, 2)  # warm-up (k-means initialisation of the codebook)
    times = {1: [], 2: []}
    for _ in range(args.rounds):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            times[threads].append(_step_time(model, opt, batch, args.steps))
    best = {k: min(v) for k, v in times.items()}
    print(f"profile {args.profile}, batch {args.batch}, {args.steps} steps x {args.rounds} rounds; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    for k, v in best.items():
        print(f"  {k} thread(s): {1000 * v:.1f} ms per step (best round)")
    print(f"  ratio 2 threads / 1 thread: {best[2] / best[1]:.2f}")


if __name__ == "__main__":
    main()
