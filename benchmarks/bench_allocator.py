"""Matrix scoring time of a worker with and without the allocator settings of the local executor.

The local executor's workers inherit ``spikebridge.experiments.executors.ALLOCATOR_ENV``: glibc keeps
freed memory in the process instead of returning every large block to the kernel. This script runs
the same matrix scoring unit (every model of one source on one target, ``score_group``, no bootstrap)
in fresh worker processes with one thread each, alternating the two environments, and prints per
repeat the wall, user and system seconds of the warm unit (after one untimed unit that loads the
libraries), then the ratio of the medians.

Usage::

    python benchmarks/bench_allocator.py --study spikebridge-out/study --pair culture_ctx_div14_tc03:retina_p10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

WORKER = r"""
import glob, json, resource, sys, time
import torch
torch.set_num_threads(1)
from spikebridge.experiments.matrix import score_group
study, source, target = sys.argv[1:4]
dirs = sorted(p for p in glob.glob(f"{study}/models/{source}/*-quick-s0") if "focal" not in p)
prep = glob.glob(f"{study}/../cache/{target}-*.npz")[0]
score_group(dirs, prep, 0, 0)
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
score_group(dirs, prep, 0, 0)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - t0, "user": r1.ru_utime - r0.ru_utime,
                  "sys": r1.ru_stime - r0.ru_stime, "faults": r1.ru_minflt - r0.ru_minflt}))
"""


def run_worker(study: str, source: str, target: str, allocator: bool) -> dict:
    from spikebridge.experiments.executors import ALLOCATOR_ENV

    env = {k: v for k, v in os.environ.items() if k not in ALLOCATOR_ENV}
    env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    if allocator:
        env.update(ALLOCATOR_ENV)
    out = subprocess.run([sys.executable, "-c", WORKER, study, source, target], env=env, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="spikebridge-out/study", help="A finished study's output folder.")
    parser.add_argument("--pair", default="culture_ctx_div14_tc03:retina_p10", help="SOURCE:TARGET")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not Path(args.study, "models").is_dir():
        sys.exit(f"{args.study}: no models folder (run `spikebridge study` first)")
    source, target = args.pair.split(":")
    rows: dict[bool, list[dict]] = {False: [], True: []}
    print(f"score_group {source} -> {target}, warm unit, 1 thread per worker")
    print(f"{'repeat':>6} {'allocator':>9} {'wall s':>7} {'user s':>7} {'sys s':>6} {'page faults':>11}")
    for i in range(args.repeats):
        for allocator in (False, True):
            r = run_worker(args.study, source, target, allocator)
            rows[allocator].append(r)
            label = "tuned" if allocator else "default"
            print(
                f"{i + 1:>6} {label:>9} {r['wall']:>7.2f} {r['user']:>7.2f} {r['sys']:>6.2f} {r['faults']:>11}"
            )
    for key in ("wall", "user", "sys"):
        base = statistics.median(r[key] for r in rows[False])
        tuned = statistics.median(r[key] for r in rows[True])
        print(
            f"median {key}: default {base:.2f} s, tuned {tuned:.2f} s, ratio default/tuned {base / tuned:.2f}"
        )


if __name__ == "__main__":
    main()
