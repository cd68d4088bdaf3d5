"""Fit time and held-out log-likelihood of the coupled GLM: a previous implementation against this one.

The previous implementation is taken from a git ref: its ``src/`` is exported with ``git archive`` into a
temporary folder and run in a subprocess with that folder first on ``PYTHONPATH``; this checkout's
``src/`` runs the same way. Both fit ``CoupledGLMBaseline(seed=0, n_jobs=...)`` with their default
settings on the fit part of each prepared recording and predict its test part (teacher-forced, from the
test part's own past). Held-out log-likelihood is reported as bits per spike against each unit's
training rate, on raw (uncalibrated) probabilities, over real units.

The two implementations run one after the other for every recording (``--repeats`` alternating rounds;
the table shows each one's fastest round), so machine load affects both alike; wall-clock numbers
still depend on that load, the ratios less so. CPU seconds (all threads) are shown too.

Usage::

    python benchmarks/bench_glm.py [--ref REF] [--recordings slice_210511001:120,ibl_NYU-40_2021-04-14_001]
        [--n-jobs 2] [--repeats 1] [--data-root PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The last commit with the previous GLM (scikit-learn L-BFGS on population traces, C chosen per unit).
DEFAULT_REF = "847361c961b5cb67b8425caae65de58a01ecfddc"
DEFAULT_RECORDINGS = "slice_210511001:120,ibl_NYU-40_2021-04-14_001"

RUNNER = r"""
import json, sys, time
import numpy as np
from spikebridge.baselines import CoupledGLMBaseline

folder, n_jobs = sys.argv[1], int(sys.argv[2])
fit, test, mask = (np.load(f"{folder}/{k}.npy") for k in ("fit", "test", "mask"))
model = CoupledGLMBaseline(seed=0, n_jobs=n_jobs)
wall, cpu = time.perf_counter(), time.process_time()
model.fit(fit, mask)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
probs = model.predict_proba(test)[:, mask]
y = test[1:, mask]
rate = np.clip(fit[:, mask].mean(axis=0), 1e-6, 1 - 1e-6)
p = np.clip(probs, 1e-6, 1 - 1e-6)
gain = np.where(y, np.log(p) - np.log(rate), np.log1p(-p) - np.log1p(-rate)).sum()
print(json.dumps({"fit_wall_s": wall, "fit_cpu_s": cpu, "bits_per_spike": gain / (y.sum() * np.log(2))}))
"""


def export_src(ref: str, dest: Path) -> Path:
    """Write ``ref``'s ``src/`` folder under ``dest`` with ``git archive``; returns the src path."""
    blob = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "src"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"


def prepare_parts(spec: str, folder: Path, data_root: str | None) -> dict:
    """Prepare ``name[:seconds]`` (the first ``seconds`` of the recording, default window otherwise)."""
    sys.path.insert(0, str(ROOT / "src"))
    from spikebridge.experiments.prepared import get_prepared
    from spikebridge.preprocess import PrepareConfig
    from spikebridge.preprocess.split import WindowConfig

    name, _, seconds = spec.partition(":")
    window = WindowConfig(length_s=float(seconds)) if seconds else WindowConfig()
    prep, _ = get_prepared(name, PrepareConfig(window=window), data_root=data_root)
    folder.mkdir(parents=True, exist_ok=True)
    for key, arr in (("fit", prep.fit.data), ("test", prep.test.data), ("mask", prep.unit_mask)):
        np.save(folder / f"{key}.npy", arr)
    return {"fit_bins": prep.fit.n_bins, "test_bins": prep.test.n_bins, "units": int(prep.unit_mask.sum())}


def run(src: Path, folder: Path, n_jobs: int) -> dict:
    """Fit and score in a subprocess with ``src`` first on the path."""
    env = {"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": str(n_jobs)}
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, str(folder), str(n_jobs)], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"runner failed ({src}):\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", default=DEFAULT_REF, help="git ref of the previous implementation")
    parser.add_argument("--recordings", default=DEFAULT_RECORDINGS, help="name[:seconds],...")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-glm-") as tmp:
        tmp = Path(tmp)
        impls = {"previous": export_src(args.ref, tmp / "previous"), "new": ROOT / "src"}
        print(f"previous = {args.ref}; new = {ROOT / 'src'}; n_jobs = {args.n_jobs}")
        for spec in args.recordings.split(","):
            folder = tmp / spec.replace(":", "_")
            shape = prepare_parts(spec, folder, args.data_root)
            best: dict[str, dict] = {}
            for _ in range(args.repeats):
                for name, src in impls.items():
                    res = run(src, folder, args.n_jobs)
                    if name not in best or res["fit_wall_s"] < best[name]["fit_wall_s"]:
                        best[name] = res
            report(spec, shape, best)


def report(spec: str, shape: dict, best: dict) -> None:
    old, new = best["previous"], best["new"]
    print(
        f"\n{spec}: fit part {shape['fit_bins']} bins, test part {shape['test_bins']} bins, {shape['units']} units"
    )
    print(f"{'':10s} {'fit wall s':>11s} {'fit CPU s':>10s} {'held-out bits/spike':>20s}")
    for name, res in best.items():
        print(f"{name:10s} {res['fit_wall_s']:11.1f} {res['fit_cpu_s']:10.1f} {res['bits_per_spike']:20.4f}")
    print(
        f"speed-up (previous / new): wall {old['fit_wall_s'] / new['fit_wall_s']:.2f}x, "
        f"CPU {old['fit_cpu_s'] / new['fit_cpu_s']:.2f}x; "
        f"held-out bits/spike new - previous: {new['bits_per_spike'] - old['bits_per_spike']:+.4f}"
    )


if __name__ == "__main__":
    main()
