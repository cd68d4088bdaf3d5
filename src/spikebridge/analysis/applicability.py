"""Which analyses apply to a model, and why the others do not (a table row each, never a crash).

The rules follow from what each analysis reads (see :mod:`spikebridge.analysis.protocol`):

* attention maps, their lag profile, gradient importance at the heads, attention-weighted importance
  and "attention off" need attention layers;
* input-gradient importance and the input shuffles need only a differentiable causal model;
* influence against connections needs per-unit pathways between units: a model with per-column
  parameters run on a recording it was not trained on uses its unit-agnostic part only, which reads
  other units through the population fraction alone, so every unit would influence a given unit alike;
* re-fitted variants (attention off, other depths at a matched budget) need a layered transformer
  (a config with ``n_layers``); they are also switched off by the run's settings;
* switching off the per-column part (and the per-unit shrinkage of its logits) needs per-column
  parameters, on the recording they were trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from spikebridge.analysis.protocol import attention_layers, has_columns, is_stateful

ANALYSES = (
    "attention maps and lag profile",
    "gradient and attention-weighted importance",
    "input-gradient importance",
    "influence vs connections",
    "attention off (inference)",
    "shuffled inputs",
    "re-fitted variants (attention off, depths)",
    "per-column part and shrinkage off (inference)",
)


@dataclass(frozen=True)
class Applicability:
    """Whether one analysis was run on a model, and the reason (or what limits it)."""

    analysis: str
    applies: bool
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def applicability(model: nn.Module, own_recording: bool, refits_requested: bool) -> tuple[Applicability, ...]:
    """One row per analysis of :data:`ANALYSES` for ``model``.

    Parameters
    ----------
    model : nn.Module
        An explainable model.
    own_recording : bool
        The explained recording is the one the model was trained on.
    refits_requested : bool
        The run's settings ask for re-fitted variants.
    """
    name = type(model).__name__
    attn = bool(attention_layers(model))
    no_attn = f"{name} has no attention layer (its config disables attention)"
    memory = (
        "windows continue the state read from the raster before them"
        if is_stateful(model)
        else "windows only"
    )
    rows = {
        ANALYSES[0]: (attn, "attention over time bins" if attn else no_attn),
        ANALYSES[1]: (attn, "loss gradient at the attention heads' outputs" if attn else no_attn),
        ANALYSES[2]: (True, f"loss gradient at the input bins ({memory})"),
        ANALYSES[4]: (attn, "attention outputs zeroed on the trained model" if attn else no_attn),
        ANALYSES[5]: (
            True,
            "recent bins permuted across units" + (f" ({memory})" if is_stateful(model) else ""),
        ),
    }
    rows[ANALYSES[3]] = _influence(model, own_recording)
    if not has_columns(model):
        rows[ANALYSES[7]] = (False, f"{name} has no per-column parameters")
    elif not own_recording:
        rows[ANALYSES[7]] = (False, "on a recording it was not trained on the per-column part is already off")
    else:
        rows[ANALYSES[7]] = (
            True,
            "shared part alone, and logits without the per-unit shrinkage, on the test part",
        )
    layered = hasattr(getattr(model, "config", None), "n_layers")
    if not layered:
        rows[ANALYSES[6]] = (
            False,
            f"{name} has no depth setting: re-fitted variants are defined for layered transformers",
        )
    elif not refits_requested:
        rows[ANALYSES[6]] = (
            False,
            "not requested in this run (spikebridge explain --ablations quick or full fits them)",
        )
    else:
        rows[ANALYSES[6]] = (True, "fitted on the training recording at the reduced epoch budget")
    return tuple(Applicability(a, *rows[a]) for a in ANALYSES)


def _influence(model: nn.Module, own_recording: bool) -> tuple[bool, str]:
    if has_columns(model) and not own_recording:
        return False, ("on a recording it was not trained on the model runs without its per-unit parameters and "
                       "reads other units only through the population fraction")  # fmt: skip
    if has_columns(model):
        lags = getattr(model.config, "coupling_lags", 1)
        return (
            True,
            f"per-unit coupling: exact lags 1..{lags}, spike traces beyond (lag profile smoothed past {lags})",
        )
    return True, "gradient of every unit's next-bin logit at every unit's recent input"
