"""QuantFormer: a masked, vector-quantized transformer auto-encoder over patches of single-neuron traces,
and its two downstream heads (response classification and forecasting as classification of codes).

Shapes: B observations, L = L_b + L_f frames, patches of ``patch_size`` frames, P = P_b + P_f patches
(the baseline is left-padded and the response right-padded with their edge values up to whole
patches, so the onset always falls on a patch boundary), d = ``d_model``, K = ``codebook_size``.

- :class:`QuantFormer` (pre-training): patches -> linear tokens + positions; a random subset of
  tokens replaced by [MASK] (+ position) -> transformer encoder -> quantizer -> transformer decoder
  -> linear back to patches.
- :class:`QuantFormerClassifier`: [CLS], [NEURON]_n, [STIM]_s and the baseline tokens only ->
  encoder (initialised from the pre-trained one) -> linear on the [CLS] output -> logit of "active".
- :class:`QuantFormerForecaster`: [NEURON]_n, [STIM]_s, the baseline tokens and P_f [MASK] tokens ->
  encoder copy -> MLP over the K codes at each masked position. The frozen pre-trained model gives
  the target codes (its encoder on the full window) and decodes the predicted codes into a trace.

Inputs are divided by ``input_scale`` (a buffer set from the training part) before the patch
projection, and outputs multiplied back, so every model speaks the observations' units.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.models.vq import CodebookQuantizer, QuantizerOutput

PROFILES = ("tiny", "quick", "paper")


@dataclass(frozen=True)
class QuantFormerConfig:
    """Architecture of QuantFormer (optimiser and loss settings live in the training config).

    Attributes
    ----------
    baseline_len, response_len : int
        L_b and L_f in frames (96 and 64 in the paper).
    patch_size : int
        Frames per patch (16: 6 baseline and 4 response patches at the paper's lengths).
    d_model, n_heads, enc_layers, dec_layers, ff_mult : int
        Width, attention heads, encoder and decoder depths, feed-forward width multiple.
    dropout : float
    codebook_size : int
        K codes of the quantizer.
    dead_code_threshold : float
        Moving assignment count under which a code is restarted.
    head_hidden : int
        Hidden width of the forecasting MLP.
    """

    baseline_len: int = 96
    response_len: int = 64
    patch_size: int = 16
    d_model: int = 128
    n_heads: int = 8
    enc_layers: int = 6
    dec_layers: int = 6
    ff_mult: int = 4
    dropout: float = 0.1
    codebook_size: int = 32
    dead_code_threshold: float = 1.0
    head_hidden: int = 256

    def __post_init__(self) -> None:
        ints = ("baseline_len", "response_len", "patch_size", "d_model", "n_heads", "enc_layers", "dec_layers",
                "ff_mult", "codebook_size", "head_hidden")  # fmt: skip
        for name in ints:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SpikebridgeConfigError(
                    f"QuantFormerConfig.{name} must be a positive integer, got {value!r}"
                )
        if self.d_model % self.n_heads:
            raise SpikebridgeConfigError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if not 0 <= self.dropout < 1 or self.dead_code_threshold < 0:
            raise SpikebridgeConfigError(
                "QuantFormerConfig needs 0 <= dropout < 1 and dead_code_threshold >= 0"
            )
        if self.codebook_size < 2:
            raise SpikebridgeConfigError(f"codebook_size must be >= 2, got {self.codebook_size}")

    @property
    def baseline_patches(self) -> int:
        return math.ceil(self.baseline_len / self.patch_size)

    @property
    def response_patches(self) -> int:
        return math.ceil(self.response_len / self.patch_size)

    @property
    def n_patches(self) -> int:
        return self.baseline_patches + self.response_patches

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantFormerConfig:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise SpikebridgeConfigError(f"unknown QuantFormerConfig field(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def profile(cls, name: str, **overrides: Any) -> QuantFormerConfig:
        """``tiny`` (tests), ``quick`` (a CPU in minutes) or ``paper`` (d 128, 6 + 6 layers, 8 heads, K 32)."""
        sizes = {
            "tiny": dict(
                d_model=32, n_heads=2, enc_layers=1, dec_layers=1, ff_mult=2, head_hidden=32, dropout=0.0
            ),
            "quick": dict(d_model=64, n_heads=4, enc_layers=2, dec_layers=2, ff_mult=2, head_hidden=128),
            "paper": {},
        }
        if name not in sizes:
            raise SpikebridgeConfigError(f"profile must be one of {PROFILES}, got {name!r}")
        return cls(**{**sizes[name], **overrides})


def _stack(cfg: QuantFormerConfig, n_layers: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        cfg.d_model, cfg.n_heads, cfg.ff_mult * cfg.d_model, cfg.dropout, activation="gelu",
        batch_first=True, norm_first=True,
    )  # fmt: skip
    return nn.TransformerEncoder(layer, n_layers, norm=nn.LayerNorm(cfg.d_model), enable_nested_tensor=False)


class Patches(nn.Module):
    """Cut traces into patches and embed them; the inverse for decoder outputs."""

    def __init__(self, cfg: QuantFormerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.proj = nn.Linear(cfg.patch_size, cfg.d_model)
        self.pos = nn.Parameter(torch.randn(cfg.n_patches, cfg.d_model) * 0.02)
        self.register_buffer("input_scale", torch.ones(()))

    def pad(self, baseline: torch.Tensor, response: torch.Tensor | None) -> torch.Tensor:
        """Edge-pad baseline (left) and response (right) to whole patches, shape (B, P * patch)."""
        cfg = self.cfg
        left = cfg.baseline_patches * cfg.patch_size - baseline.shape[1]
        parts = [baseline[:, :1].expand(-1, left), baseline] if left else [baseline]
        if response is not None:
            right = cfg.response_patches * cfg.patch_size - response.shape[1]
            parts += [response, response[:, -1:].expand(-1, right)] if right else [response]
        return torch.cat(parts, dim=1)

    def tokens(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Tokens (B, n, d) of padded traces (B, n * patch) at positions ``offset ...``."""
        patches = (x / self.input_scale).reshape(x.shape[0], -1, self.cfg.patch_size)  # (B, n, patch)
        return self.proj(patches) + self.pos[offset : offset + patches.shape[1]]

    def crop(self, flat: torch.Tensor) -> torch.Tensor:
        """Decoder output (B, P * patch) -> traces (B, L_b + L_f) in input units."""
        cfg = self.cfg
        left = cfg.baseline_patches * cfg.patch_size - cfg.baseline_len
        return flat[:, left : left + cfg.baseline_len + cfg.response_len] * self.input_scale


class QuantFormer(nn.Module):
    """The pre-training auto-encoder: masked patches -> encoder -> quantizer -> decoder -> traces."""

    def __init__(self, cfg: QuantFormerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patches = Patches(cfg)
        self.mask_token = nn.Parameter(torch.randn(cfg.d_model) * 0.02)
        self.encoder = _stack(cfg, cfg.enc_layers)
        self.quantizer = CodebookQuantizer(cfg.d_model, cfg.codebook_size, cfg.dead_code_threshold)
        self.dec_pos = nn.Parameter(torch.randn(cfg.n_patches, cfg.d_model) * 0.02)
        self.decoder = _stack(cfg, cfg.dec_layers)
        self.out = nn.Linear(cfg.d_model, cfg.patch_size)

    def set_input_scale(self, scale: float) -> None:
        self.patches.input_scale.fill_(float(scale))

    def encode(
        self, baseline: torch.Tensor, response: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Encoder outputs z_e (B, P, d); tokens where ``mask`` (B, P) is True become [MASK] + position."""
        tokens = self.patches.tokens(self.patches.pad(baseline, response))  # (B, P, d)
        if mask is not None:
            masked = self.mask_token + self.patches.pos  # (P, d)
            tokens = torch.where(mask[..., None], masked.expand_as(tokens), tokens)
        return self.encoder(tokens)

    def decode(self, quantized: torch.Tensor) -> torch.Tensor:
        """Traces (B, L_b + L_f) from quantized latents (B, P, d)."""
        flat = self.out(self.decoder(quantized + self.dec_pos)).reshape(
            quantized.shape[0], -1
        )  # (B, P*patch)
        return self.patches.crop(flat)

    def forward(
        self, baseline: torch.Tensor, response: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, QuantizerOutput]:
        """Reconstruction (B, L_b + L_f) and the quantizer output of a (masked) window."""
        q = self.quantizer(self.encode(baseline, response, mask))
        return self.decode(q.quantized), q

    @torch.no_grad()
    def codes(
        self, baseline: torch.Tensor, response: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Code indices (B, P) of a window (the quantizer is used as a pure function)."""
        return self.quantizer.nearest(self.encode(baseline, response, mask))


class PromptTokens(nn.Module):
    """Learnable [NEURON]_1..N and [STIM]_1..S tokens (and optionally [CLS]), each of width d."""

    def __init__(self, d_model: int, n_neurons: int, n_stimuli: int, with_cls: bool) -> None:
        super().__init__()
        self.neuron = nn.Embedding(n_neurons, d_model)
        self.stimulus = nn.Embedding(n_stimuli, d_model)
        nn.init.normal_(self.neuron.weight, std=0.02)
        nn.init.normal_(self.stimulus.weight, std=0.02)
        self.cls = nn.Parameter(torch.randn(d_model) * 0.02) if with_cls else None

    def forward(self, neuron: torch.Tensor, stimulus: torch.Tensor) -> torch.Tensor:
        """Prefix tokens (B, 2 or 3, d): [CLS]?, [NEURON]_n, [STIM]_s."""
        parts = [self.neuron(neuron), self.stimulus(stimulus)]  # (B, d) each
        if self.cls is not None:
            parts.insert(0, self.cls.expand(neuron.shape[0], -1))
        return torch.stack(parts, dim=1)


def _check_ids(n_neurons: int, n_stimuli: int) -> None:
    if n_neurons < 1 or n_stimuli < 1:
        raise SpikebridgeConfigError(
            f"need at least one neuron and one stimulus, got {n_neurons}, {n_stimuli}"
        )


class QuantFormerClassifier(nn.Module):
    """Active / inactive from the baseline window, the neuron and the stimulus (logit of "active")."""

    def __init__(self, cfg: QuantFormerConfig, n_neurons: int, n_stimuli: int) -> None:
        super().__init__()
        _check_ids(n_neurons, n_stimuli)
        self.cfg = cfg
        self.patches = Patches(cfg)
        self.encoder = _stack(cfg, cfg.enc_layers)
        self.prompts = PromptTokens(cfg.d_model, n_neurons, n_stimuli, with_cls=True)
        self.head = nn.Linear(cfg.d_model, 1)

    def load_backbone(self, pretrained: QuantFormer) -> None:
        """Start from the pre-trained patch embedding and encoder (copies, not shared)."""
        self.patches.load_state_dict(pretrained.patches.state_dict())
        self.encoder.load_state_dict(pretrained.encoder.state_dict())

    def prompt_parameters(self) -> list[nn.Parameter]:
        """What prompt-tuning trains: the soft prompts and the linear classifier."""
        return [*self.prompts.parameters(), *self.head.parameters()]

    def forward(self, baseline: torch.Tensor, neuron: torch.Tensor, stimulus: torch.Tensor) -> torch.Tensor:
        """Logits (B,) from baselines (B, L_b); the response window is never an input."""
        tokens = self.patches.tokens(self.patches.pad(baseline, None))  # (B, P_b, d)
        seq = torch.cat([self.prompts(neuron, stimulus), tokens], dim=1)  # (B, 3 + P_b, d)
        return self.head(self.encoder(seq)[:, 0]).squeeze(-1)


class QuantFormerForecaster(nn.Module):
    """Forecast of the response window as a classification of its codes, decoded by the frozen backbone."""

    def __init__(self, cfg: QuantFormerConfig, n_neurons: int, n_stimuli: int) -> None:
        super().__init__()
        _check_ids(n_neurons, n_stimuli)
        self.cfg = cfg
        self.backbone = QuantFormer(cfg)
        self.patches = Patches(cfg)
        self.mask_token = nn.Parameter(torch.zeros(cfg.d_model))
        self.encoder = _stack(cfg, cfg.enc_layers)
        self.prompts = PromptTokens(cfg.d_model, n_neurons, n_stimuli, with_cls=False)
        self.head = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.head_hidden), nn.GELU(), nn.Linear(cfg.head_hidden, cfg.codebook_size)
        )
        self.backbone.requires_grad_(False)

    def load_backbone(self, pretrained: QuantFormer) -> None:
        """Freeze a copy of the pre-trained model and start the encoder copy from it."""
        self.backbone.load_state_dict(pretrained.state_dict())
        self.backbone.requires_grad_(False)
        self.patches.load_state_dict(pretrained.patches.state_dict())
        self.encoder.load_state_dict(pretrained.encoder.state_dict())
        with torch.no_grad():
            self.mask_token.copy_(pretrained.mask_token)

    def train(self, mode: bool = True) -> QuantFormerForecaster:
        """Train mode for the head and encoder copy; the frozen backbone (and its quantizer) stays in eval."""
        super().train(mode)
        self.backbone.eval()
        return self

    def prompt_parameters(self) -> list[nn.Parameter]:
        """What prompt-tuning trains: the soft prompts and the code classifier."""
        return [*self.prompts.parameters(), *self.head.parameters()]

    def tuned_parameters(self) -> list[nn.Parameter]:
        """What fine-tuning trains: everything but the frozen backbone."""
        return [p for name, p in self.named_parameters() if not name.startswith("backbone.")]

    def forward(self, baseline: torch.Tensor, neuron: torch.Tensor, stimulus: torch.Tensor) -> torch.Tensor:
        """Code logits (B, P_f, K) of the response patches, from the baseline (B, L_b) only."""
        cfg = self.cfg
        tokens = self.patches.tokens(self.patches.pad(baseline, None))  # (B, P_b, d)
        masks = (self.mask_token + self.patches.pos[cfg.baseline_patches :]).expand(len(baseline), -1, -1)
        seq = torch.cat([self.prompts(neuron, stimulus), tokens, masks], dim=1)  # (B, 2 + P, d)
        return self.head(self.encoder(seq)[:, 2 + cfg.baseline_patches :])

    @torch.no_grad()
    def target_codes(self, baseline: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
        """Codes (B, P_f) of the response patches: the frozen encoder on the full, unmasked window."""
        return self.backbone.codes(baseline, response)[:, self.cfg.baseline_patches :]

    @torch.no_grad()
    def decode_codes(self, baseline: torch.Tensor, response_codes: torch.Tensor) -> torch.Tensor:
        """Forecast (B, L_f): baseline codes (response masked) + the given response codes -> frozen decoder."""
        cfg = self.cfg
        placeholder = torch.zeros(
            len(baseline), cfg.response_len, dtype=baseline.dtype, device=baseline.device
        )
        mask = torch.zeros(len(baseline), cfg.n_patches, dtype=torch.bool, device=baseline.device)
        mask[:, cfg.baseline_patches :] = True
        base_codes = self.backbone.codes(baseline, placeholder, mask)[:, : cfg.baseline_patches]
        codes = torch.cat([base_codes, response_codes], dim=1)  # (B, P)
        return self.backbone.decode(self.backbone.quantizer.lookup(codes))[:, cfg.baseline_len :]

    @torch.no_grad()
    def forecast(self, baseline: torch.Tensor, neuron: torch.Tensor, stimulus: torch.Tensor) -> torch.Tensor:
        """Forecast (B, L_f) with the most probable code at every masked position."""
        return self.decode_codes(baseline, self.forward(baseline, neuron, stimulus).argmax(dim=-1))


def clone_backbone(model: QuantFormer) -> QuantFormer:
    """A detached deep copy (e.g. to keep the pre-trained weights while a head is tuned)."""
    return copy.deepcopy(model)
