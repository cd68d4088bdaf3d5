"""models layer of spikebridge: torch ``nn.Module`` classes, each with a frozen config dataclass.

Importing this package does not import torch; import the submodules directly, e.g.
``from spikebridge.models.spike_transformer import SpikeTransformer, SpikeTransformerConfig``.
"""
