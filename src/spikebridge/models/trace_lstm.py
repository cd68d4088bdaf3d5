"""An LSTM forecaster of the response window from the baseline window (a neural baseline for QuantFormer)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from spikebridge.errors import SpikebridgeConfigError


@dataclass(frozen=True)
class TraceLSTMConfig:
    """Architecture: ``n_layers`` LSTM layers of ``hidden`` units over the baseline frames, then a linear
    map from the last hidden state to the ``response_len`` frames of the forecast."""

    response_len: int = 64
    hidden: int = 64
    n_layers: int = 1

    def __post_init__(self) -> None:
        for name in ("response_len", "hidden", "n_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SpikebridgeConfigError(
                    f"TraceLSTMConfig.{name} must be a positive integer, got {value!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TraceLSTM(nn.Module):
    """Baseline (B, L_b) -> forecast (B, L_f), in the input's units (scaled by ``input_scale`` inside)."""

    def __init__(self, cfg: TraceLSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.lstm = nn.LSTM(1, cfg.hidden, cfg.n_layers, batch_first=True)
        self.out = nn.Linear(cfg.hidden, cfg.response_len)
        self.register_buffer("input_scale", torch.ones(()))

    def set_input_scale(self, scale: float) -> None:
        self.input_scale.fill_(float(scale))

    def forward(self, baseline: torch.Tensor) -> torch.Tensor:
        x = (baseline / self.input_scale).unsqueeze(-1)  # (B, L_b, 1)
        _, (h, _) = self.lstm(x)  # h: (n_layers, B, hidden)
        return self.out(h[-1]) * self.input_scale
