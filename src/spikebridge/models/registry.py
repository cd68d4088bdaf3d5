"""The registry of neural architectures: one line per architecture.

Each entry names an ``nn.Module`` class, its frozen config dataclass (which provides ``profile``,
``to_dict`` and ``from_dict``) and how it is trained: ``"windows"`` (random windows of the raster fed
to ``forward(x) -> logits``, the paper model's pipeline, which any stateless model can use) or
``"features"`` (a stateful model trained on windows of its precomputed causal features). Checkpoints
store the class name, so any registered architecture loads from its checkpoint; the experiment zoo
names architectures by their registry key. A new architecture is one module and one line here.
Imports are lazy: looking up an entry does not import torch until a class is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError


@dataclass(frozen=True)
class Architecture:
    """A neural architecture: registry key, model class and config class (``module:Name`` paths)."""

    name: str
    model: str
    config: str
    profiles: tuple[str, ...]
    training: str
    description: str
    aliases: tuple[tuple[str, str], ...] = ()

    def resolve_profile(self, profile: str) -> str:
        """The architecture's own name of a profile (aliases let one study-wide profile name fit all)."""
        name = dict(self.aliases).get(profile, profile)
        if name not in self.profiles:
            raise SpikebridgeConfigError(
                f"architecture {self.name!r} has profiles {', '.join(self.profiles)}; got {profile!r}"
            )
        return name

    def model_class(self) -> type:
        return _load(self.model)

    def config_class(self) -> type:
        return _load(self.config)

    def make_config(self, profile: str, **overrides: Any):
        """The config of a named profile (with ``n_units`` and other fields overridden)."""
        return self.config_class().profile(self.resolve_profile(profile), **overrides)

    def build(self, config):
        return self.model_class()(config)


ARCHITECTURES: dict[str, Architecture] = {
    "bridge": Architecture("bridge", "spikebridge.models.bridge:BridgeModel",
                           "spikebridge.models.bridge_config:BridgeConfig", ("tiny", "quick", "exact", "full"), "features",
                           "spikebridge's own model: a coupled history GLM inside a population-context network",
                           aliases=(("paper", "full"),)),
    "paper": Architecture("paper", "spikebridge.models.spike_transformer:SpikeTransformer",
                          "spikebridge.models.spike_transformer:SpikeTransformerConfig", ("tiny", "quick", "paper"), "windows",
                          "the seed paper's spike transformer (one binary population vector per token)"),
}  # fmt: skip


def _load(path: str) -> type:
    module, name = path.split(":")
    return getattr(import_module(module), name)


def architecture(name: str) -> Architecture:
    """The registry entry of an architecture name (``"bridge"``, ``"paper"``)."""
    if name not in ARCHITECTURES:
        raise SpikebridgeConfigError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def by_model_class(class_name: str, source: str = "checkpoint") -> Architecture:
    """The registry entry whose model class is ``class_name`` (as stored in checkpoints)."""
    for arch in ARCHITECTURES.values():
        if arch.model.rsplit(":", 1)[1] == class_name:
            return arch
    raise SpikebridgeDataError(f"{source}: holds a {class_name}, which is not a registered architecture")


def by_config(config) -> Architecture:
    """The registry entry whose config class is the type of ``config``."""
    name = type(config).__name__
    for arch in ARCHITECTURES.values():
        if arch.config.rsplit(":", 1)[1] == name:
            return arch
    raise SpikebridgeConfigError(f"{name} is not the config of a registered architecture")
