"""Free-running generation: sample each next bin from the model and feed it back.

Sliding context
---------------
Models with absolute positions hold at most ``context`` bins. Generation keeps a key/value cache
while the window fills; when it is full, it keeps the most recent ``context - chunk`` bins,
re-encodes them at positions ``0 .. context - chunk - 1`` (one forward pass over those bins) and goes
on appending. Each prediction therefore sees between ``context - chunk + 1`` and ``context`` past bins,
exactly as :func:`spikebridge.training.predict.predict_proba` with the same ``chunk`` does on the
generated raster (a test checks the probabilities are equal), and the amortised cost of a bin is
constant: one cached step plus ``(context - chunk) / chunk`` re-encoded bins. Only the last
``context`` bins of the prefix are used (no prediction could see more).

Sampling
--------
Bin ``t`` of trial ``k`` is Bernoulli with probability ``sigmoid(logit / temperature)``, drawn with
the uniform stream ``numpy.random.default_rng([seed, k])``: the same seed gives the same spikes, and
trial ``k`` does not depend on how many trials are generated with it. Columns whose ``unit_mask`` is
False (padding) are kept silent, as they are in real data. Runs that differ only in their prefix share
their noise: once their bins coincide over a whole context they stay identical (measured: the quick
slice model after a slice and after an in vivo prefix, seed 0, agreed from 0.4 s on). Give such runs
different seeds when they must be independent.
"""

from __future__ import annotations

import functools
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.progress import progress_bar

_BLOCK = 1024  # bins of uniforms drawn at once per trial


@dataclass(frozen=True)
class GenerateConfig:
    """Settings of one generation.

    Attributes
    ----------
    n_steps : int
        Bins to generate per trial (>= 1).
    trials : int
        Independent trials, generated together as one batch.
    temperature : float
        Logits are divided by it before the sigmoid (> 0; 1 = the model's probabilities).
    seed : int
        Seed of the sampling streams (>= 0).
    chunk : int or None
        Bins appended between two re-encodings once the context is full (default ``context // 2``).
    engine : {"auto", "numpy", "torch", "recompute"}
        See :func:`spikebridge.training.engines.make_engine`.
    anchor_tau : float or None
        Rate anchoring of a bridge model: traces with time constants ``>= anchor_tau`` bins are held
        at their values after the prefix (:mod:`spikebridge.training.bridge_engine`). None: off.
    """

    n_steps: int
    trials: int = 1
    temperature: float = 1.0
    seed: int = 0
    chunk: int | None = None
    engine: str = "auto"
    anchor_tau: float | None = None

    def __post_init__(self) -> None:
        for name in ("n_steps", "trials"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
                raise SpikebridgeConfigError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise SpikebridgeConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not (isinstance(self.temperature, int | float) and 0 < self.temperature < float("inf")):
            raise SpikebridgeConfigError(f"temperature must be positive, got {self.temperature!r}")
        if self.chunk is not None and (not isinstance(self.chunk, int) or self.chunk < 1):
            raise SpikebridgeConfigError(f"chunk must be a positive integer, got {self.chunk!r}")
        if self.anchor_tau is not None and not (
            isinstance(self.anchor_tau, int | float) and self.anchor_tau > 0
        ):
            raise SpikebridgeConfigError(f"anchor_tau must be positive or None, got {self.anchor_tau!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Generation:
    """Output of :func:`generate_from_engine`.

    Attributes
    ----------
    spikes : ndarray ``(K, n_steps, N)`` bool
        Generated bins of each trial (the prefix is not included).
    probs : ndarray ``(K, n_steps, N)`` float32 or None
        Probability each bin was sampled with (only when asked for).
    context, chunk : int or None
        Sliding-context setting used (None: the engine holds everything).
    """

    spikes: np.ndarray
    probs: np.ndarray | None
    context: int | None
    chunk: int | None


def _uniform_blocks(seed: int, trials: int, n_units: int, n_bins: int | None = None):
    """Yield blocks of per-bin thresholds ``(_BLOCK, K, N)`` ``logit(u)``, each trial from its own stream.

    With ``n_bins``, the blocks stop short at ``n_bins`` bins in all (no unused draws); the values do not
    depend on the block sizes (each stream is read in order).
    """
    rngs = [np.random.default_rng([seed, k]) for k in range(trials)]
    while True:
        bins = _BLOCK if n_bins is None else min(_BLOCK, n_bins)
        u = np.stack([rng.random((bins, n_units)) for rng in rngs], axis=1)  # (block, K, N)
        n_bins = None if n_bins is None else n_bins - bins
        with np.errstate(divide="ignore"):
            yield np.log(u / (1.0 - u)).astype(np.float32)  # logit(u), one log per draw; u = 0 gives -inf


def _window(prefix: np.ndarray, context: int | None, trials: int) -> np.ndarray:
    recent = prefix if context is None else prefix[max(0, prefix.shape[0] - context) :]
    return np.broadcast_to(recent.astype(np.float32), (trials, *recent.shape))  # (K, L, N)


def generate_from_engine(
    engine,
    prefix: np.ndarray,
    config: GenerateConfig,
    unit_mask: np.ndarray | None = None,
    keep_probs: bool = False,
    progress: bool = False,
) -> Generation:
    """Sample ``config.n_steps`` bins per trial from a step engine, starting after a real prefix.

    Parameters
    ----------
    engine
        A step engine (:mod:`spikebridge.training.engines`).
    prefix : ndarray ``(T0, N)`` bool
        Real bins preceding the generation (``T0 >= 1``); its last ``context`` bins are used.
    config : GenerateConfig
    unit_mask : ndarray ``(N,)`` bool, optional
        False columns stay silent (padding).
    keep_probs : bool
        Also return the probability of every sampled bin.
    progress : bool
        Show a progress bar (rich).
    """
    prefix, mask, chunk = _check_inputs(engine, prefix, unit_mask, config.chunk)
    context = engine.context
    k, n, steps = config.trials, engine.n_units, config.n_steps
    window = _window(prefix, context, k)
    spikes = np.zeros((k, steps, n), bool)
    probs = np.zeros((k, steps, n), np.float32) if keep_probs else None
    blocks = _uniform_blocks(config.seed, k, n, steps)
    temperature = None if config.temperature == 1.0 else np.float32(config.temperature)
    masked = not mask.all()
    slides = context is not None
    with one_thread(), progress_bar(progress, steps, "generate (bins)") as advance:
        logits = engine.start(window)
        for t in range(steps):
            i = t % _BLOCK
            if i == 0:
                thresholds = next(blocks)  # (block, K, N)
                if t:
                    advance(_BLOCK)
            scaled = logits if temperature is None else logits / temperature  # (K, N)
            if probs is not None:
                probs[:, t] = 1.0 / (1.0 + np.exp(-scaled))
            sample = spikes[:, t]  # (K, N), written in place
            np.greater(scaled, thresholds[i], out=sample)  # u < sigmoid(scaled)  <=>  scaled > logit(u)
            if masked:
                sample &= mask
            if t + 1 == steps:
                break
            if slides and engine.held >= context:
                _slide(engine, window, spikes, t, context - chunk)
            logits = engine.advance(sample)
    return Generation(spikes=spikes, probs=probs, context=context, chunk=chunk)


@contextmanager
def one_thread():
    """Run torch, BLAS and OpenMP on one thread, then restore them.

    A step is a few dozen operations on arrays of a few hundred numbers: extra threads cannot share
    that work, and their busy-waiting between operations took a core from the main thread (measured:
    twice the CPU time per bin with 2 threads on a loaded 2-core machine).
    """
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(1)
        with _thread_pools(len(sys.modules)).limit(limits=1):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)


@functools.lru_cache(maxsize=1)
def _thread_pools(n_modules: int):
    """threadpoolctl's controller of the loaded thread pools (finding them takes about 1 ms).

    Kept while the number of imported modules ``n_modules`` stays the same: a module imported since
    may have loaded another pool, so the controller is then built anew.
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _check_inputs(engine, prefix, unit_mask, chunk: int | None) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Validated prefix ``(T0, N)``, unit mask ``(N,)`` and chunk (None when the engine never slides)."""
    prefix = np.asarray(prefix)
    if prefix.ndim != 2 or prefix.shape[0] < 1 or prefix.shape[1] != engine.n_units:
        raise SpikebridgeDataError(
            f"prefix must be (T0 >= 1, {engine.n_units}) for this model, got shape {prefix.shape}"
        )
    mask = np.ones(engine.n_units, bool) if unit_mask is None else np.asarray(unit_mask, bool)
    if mask.shape != (engine.n_units,):
        raise SpikebridgeDataError(f"unit_mask must be ({engine.n_units},), got {mask.shape}")
    context = engine.context
    chunk = None if context is None else chunk or max(1, context // 2)
    if chunk is not None and chunk > context:
        raise SpikebridgeConfigError(f"chunk must be in 1..{context}, got {chunk}")
    return prefix, mask, chunk


def _slide(engine, window: np.ndarray, spikes: np.ndarray, t: int, keep: int) -> None:
    """Re-encode the last ``keep`` bins before bin ``t`` (prefix window, then generated bins 0..t-1)."""
    from_gen = min(keep, t)
    recent = spikes[:, t - from_gen : t].astype(np.float32)  # (K, from_gen, N)
    if keep > from_gen:
        recent = np.concatenate([window[:, window.shape[1] - (keep - from_gen) :], recent], axis=1)
    engine.start(recent)


def generate(
    model,
    prefix: np.ndarray,
    n_steps: int,
    trials: int = 1,
    temperature: float = 1.0,
    seed: int = 0,
    unit_mask: np.ndarray | None = None,
    chunk: int | None = None,
    engine: str = "auto",
    context: int | None = None,
    keep_probs: bool = False,
    progress: bool = False,
    anchor_tau: float | None = None,
) -> Generation:
    """Free-running generation from a trained model (see the module docstring).

    Parameters
    ----------
    model
        A :class:`SpikeTransformer`, or any model with the ``init_state``/``step`` API or a
        ``(B, T, N) -> (B, T, N)`` forward.
    prefix : ndarray ``(T0, N)`` bool
    n_steps, trials, temperature, seed, chunk, engine
        See :class:`GenerateConfig`.
    unit_mask : ndarray ``(N,)`` bool, optional
        Padding columns (False) stay silent.
    context : int, optional
        Most past bins a prediction sees (default: the model's ``max_context``).
    keep_probs, progress
        See :func:`generate_from_engine`.
    anchor_tau : float, optional
        Rate anchoring (bridge models; see :class:`GenerateConfig`).

    Returns
    -------
    Generation
        ``spikes`` ``(trials, n_steps, N)`` bool.
    """
    from spikebridge.training.engines import make_engine

    config = GenerateConfig(n_steps, trials, temperature, seed, chunk, engine, anchor_tau)
    runner = make_engine(model, engine, context, anchor_tau)
    return generate_from_engine(runner, prefix, config, unit_mask, keep_probs, progress)
