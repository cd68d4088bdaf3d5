"""Bits per spike of spikebridge's own model against the simulator's true probabilities (the oracle).

The simulator (:func:`spikebridge.simulation.simulate`) knows every bin's true spike probability given
the past (and, in vitro, its hidden burst state). A raster is simulated, split in time into fit,
validation and test parts (the protocol's 2:1 train:test, the last tenth of train for validation),
the model is fitted with the chosen profile (quick by default; best epoch chosen on validation) and its teacher-forced
test probabilities are scored with the NLB bits/spike (null: each unit's mean test rate) beside the
oracle's. The ratio model / oracle is printed per regime; the target is at least 0.95.

Usage::

    python scripts/check_oracle.py [--regimes in_vivo,in_vitro] [--units 128] [--seconds 300] [--profile exact]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def check(regime: str, n_units: int, n_bins: int, seed: int, model: str, profile: str = "quick") -> dict:
    from spikebridge.evaluation.information import bits_per_spike
    from spikebridge.experiments.zoo import ModelSpec, model_config, train_config
    from spikebridge.simulation import simulate
    from spikebridge.training.fit import fit_network
    from spikebridge.training.predict import load_model, predict_proba

    sim = simulate(n_units=n_units, n_bins=n_bins, regime=regime, seed=seed)
    n_train = 2 * n_bins // 3
    n_fit = n_train - n_train // 10
    mask = np.ones(n_units, bool)
    spec = ModelSpec.parse(model, profile=profile)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        fit = fit_network(sim.spikes[:n_fit], sim.spikes[n_fit:n_train], mask, model_config(spec, n_units),
                          train_config(spec), tmp, progress=False)  # fmt: skip
        net = load_model(fit.checkpoint_path)
    seconds = time.perf_counter() - start
    probs = predict_proba(net, sim.spikes)[n_train - 1 :]  # row t: P(spike in bin n_train + t)
    targets = sim.spikes[n_train:]
    model_bits, _ = bits_per_spike(probs, targets, mask)
    oracle_bits, _ = bits_per_spike(sim.prob[n_train:], targets, mask)
    return {"regime": regime, "model": model_bits, "oracle": oracle_bits, "ratio": model_bits / oracle_bits,
            "fit_seconds": seconds, "best_epoch": fit.best_epoch}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regimes", default="in_vivo,in_vitro")
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=300.0, help="Simulated seconds (1 ms bins).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="bridge-bce")
    parser.add_argument("--profile", default="quick")
    args = parser.parse_args()
    print(f"{'regime':<10} {'model bits/spike':>17} {'oracle':>8} {'ratio':>6} {'fit s':>6}  verdict")
    for regime in args.regimes.split(","):
        r = check(regime, args.units, int(args.seconds * 1000), args.seed, args.model, args.profile)
        verdict = "within 5%" if r["ratio"] >= 0.95 else "more than 5% below the oracle"
        print(f"{regime:<10} {r['model']:>17.4f} {r['oracle']:>8.4f} {r['ratio']:>6.3f} {r['fit_seconds']:>6.0f}  "
              f"{verdict} ({args.model} {args.profile}, best epoch {r['best_epoch']})")  # fmt: skip


if __name__ == "__main__":
    main()
