"""baselines layer of spikebridge: non-neural baselines with a ``fit`` / ``predict_proba`` contract.

Submodules are imported lazily so that ``import spikebridge.baselines`` stays light (no scikit-learn).
"""

from importlib import import_module

_EXPORTS = {
    "Baseline": "spikebridge.baselines.base",
    "RateBaseline": "spikebridge.baselines.rate",
    "OwnHistoryBaseline": "spikebridge.baselines.history",
    "CoupledGLMBaseline": "spikebridge.baselines.glm",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'spikebridge.baselines' has no attribute {name!r}")
