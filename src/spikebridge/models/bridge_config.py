"""Configuration of :class:`~spikebridge.models.bridge.BridgeModel` (architecture only, no optimiser settings)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from spikebridge.errors import SpikebridgeConfigError

UNIT_TAUS = (4.0, 16.0, 64.0, 1024.0, 16384.0)
POPULATION_TAUS = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0)
SINCE_EDGES = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100, 200, 500, 1000, 2000, 5000)


@dataclass(frozen=True)
class BridgeConfig:
    """Architecture of :class:`~spikebridge.models.bridge.BridgeModel`.

    Attributes
    ----------
    n_units : int
        Columns of the raster the model reads (real units plus padding).
    rank : int
        Width of the product between a unit's own-history state and the population context.
    d_model, d_ff : int
        Width of the population-context network and of its feed-forward layer.
    n_heads : int
        Attention heads (``d_model`` divisible by it).
    attention : bool
        Attend, at every bin, over the population tokens of the last ``attention_span`` bins.
        False: the population context is a feed-forward function of the multi-time-scale population
        traces only.
    attention_span : int
        Bins (tokens) each attention query sees, the current one included.
    unit_taus : tuple of float
        Time constants (bins) of each unit's own spike traces (own history and rate estimates).
    coupling_taus : tuple of float
        The subset of ``unit_taus`` whose traces of every unit feed the coupling between units.
    coupling_lags : int
        Exact lags (1 = the current bin, 2 = also the bin before, ...) of every unit's spikes that feed
        the coupling, 1 to 4.
    population_taus : tuple of float
        Time constants (bins) of the traces of the population's spike fraction.
    since_edges : tuple of int
        Upper edges of the categories of time since a unit's last spike, in bins, where 1 means the
        unit spiked in the current bin (the convention of the own-history baseline).
    columns : bool
        Learn per-column parameters (coupling between units, each unit's own history table, rate and
        gain). They describe the training recording's units and are used on that recording only.
    population_mlp : bool
        Add a nonlinear per-column population path (an MLP on every unit's recent spikes with one
        output per column), able to express conjunctions such as "A and B spiked together".
    """

    n_units: int = 128
    rank: int = 16
    d_model: int = 64
    d_ff: int = 128
    n_heads: int = 4
    attention: bool = False
    attention_span: int = 128
    unit_taus: tuple[float, ...] = UNIT_TAUS
    coupling_taus: tuple[float, ...] = (4.0, 16.0, 64.0)
    coupling_lags: int = 1
    population_taus: tuple[float, ...] = POPULATION_TAUS
    since_edges: tuple[int, ...] = SINCE_EDGES
    columns: bool = True
    population_mlp: bool = False

    def __post_init__(self) -> None:
        for name in ("n_units", "rank", "d_model", "d_ff", "n_heads", "attention_span"):
            _positive_int(name, getattr(self, name))
        if self.d_model % self.n_heads:
            raise SpikebridgeConfigError(
                f"d_model must be divisible by n_heads, got d_model={self.d_model}, n_heads={self.n_heads}"
            )
        if not isinstance(self.coupling_lags, int) or not 1 <= self.coupling_lags <= 4:
            raise SpikebridgeConfigError(
                f"coupling_lags must be an integer in 1..4, got {self.coupling_lags!r}"
            )
        for name in ("unit_taus", "population_taus"):
            taus = tuple(getattr(self, name))
            if not taus or any(not isinstance(t, int | float) or not t > 0 for t in taus):
                raise SpikebridgeConfigError(f"{name} must be positive time constants, got {taus!r}")
            object.__setattr__(self, name, tuple(float(t) for t in taus))
        coupling = tuple(float(t) for t in self.coupling_taus)
        if any(t not in self.unit_taus for t in coupling):
            raise SpikebridgeConfigError(f"coupling_taus must be a subset of unit_taus, got {coupling!r}")
        object.__setattr__(self, "coupling_taus", coupling)
        edges = tuple(self.since_edges)
        if not edges or edges[0] < 1 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise SpikebridgeConfigError(f"since_edges must be increasing positive integers, got {edges!r}")
        object.__setattr__(self, "since_edges", tuple(int(e) for e in edges))
        for name in ("attention", "columns", "population_mlp"):
            if not isinstance(getattr(self, name), bool):
                raise SpikebridgeConfigError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.population_mlp and not self.columns:
            raise SpikebridgeConfigError("population_mlp is a per-column path: it needs columns=True")

    @property
    def prefix(self) -> int:
        """Bins before a window that its first bin needs (attention keys, coupling lags)."""
        return max(self.attention_span - 1 if self.attention else 0, self.coupling_lags - 1)

    @classmethod
    def profile(cls, name: str, **overrides: Any) -> BridgeConfig:
        """Named configuration, optionally with fields overridden.

        Parameters
        ----------
        name : {"quick", "tiny", "exact", "full"}
            ``"quick"``: the default (rank 16, context width 64, no attention). ``"tiny"``: seconds per
            fit, for smoke tests (rank 8, width 16). ``"exact"``: the quick network with coupling at
            exact lags 1-3 (trained with a full-batch solve of the per-column part first). ``"full"``: attention over the last 256 bins of
            population tokens and the nonlinear per-column population path.
        """
        profiles = {
            "quick": {},
            "tiny": dict(
                rank=8,
                d_model=16,
                d_ff=32,
                n_heads=2,
                unit_taus=(4.0, 64.0, 1024.0),
                coupling_taus=(4.0,),
                population_taus=(4.0, 64.0, 1024.0),
            ),  # fmt: skip
            "exact": dict(coupling_lags=3),
            "full": dict(attention=True, attention_span=256, population_mlp=True, coupling_lags=2),
        }
        if name not in profiles:
            raise SpikebridgeConfigError(f"profile must be one of {sorted(profiles)}, got {name!r}")
        return cls(**{**profiles[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dictionary of the fields (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BridgeConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`SpikebridgeConfigError`."""
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise SpikebridgeConfigError(f"unknown BridgeConfig field(s): {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpikebridgeConfigError(f"{name} must be a positive integer, got {value!r}")
