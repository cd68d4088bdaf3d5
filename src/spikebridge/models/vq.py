"""Vector quantizer with straight-through gradients, codebook and commitment losses, dead-code restarts.

The nearest-code search, the k-means initialisation of the codebook and the restart of dead codes
come from the maintained ``vector-quantize-pytorch`` package (``VectorQuantize`` with a learnable
codebook and no EMA update). The losses and the gradient path are written out here so that they
are exactly those of VQ-VAE (van den Oord et al. 2017), as QuantFormer uses them::

    e_k        = nearest code to z_e (Euclidean)
    z_q        = z_e + sg(e_k - z_e)                     straight-through: dz_q/dz_e = identity
    L_codebook = mean || e_k - sg(z_e) ||^2              moves the codes towards the encoder outputs
    L_commit   = mean || z_e - sg(e_k) ||^2              keeps the encoder close to its codes

``sg`` is stop-gradient. A code whose exponential moving count of assignments (decay 0.8 per
training batch) falls below ``dead_code_threshold`` is replaced by a random encoder output of the
current batch. Only training batches touch the codebook: in ``eval()`` mode the quantizer is a pure
function of its input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class QuantizerOutput:
    """Result of :class:`CodebookQuantizer` on latents of shape (B, P, d).

    Attributes
    ----------
    quantized : Tensor (B, P, d)
        ``z_e + sg(e_k - z_e)``: the codes in the forward pass, the identity in the backward pass.
    indices : LongTensor (B, P)
        Index of the nearest code of every latent.
    codebook_loss, commitment_loss : Tensor ()
        The two VQ losses (see the module docstring).
    """

    quantized: torch.Tensor
    indices: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor


class CodebookQuantizer(nn.Module):
    """Nearest-neighbour quantization of ``d``-dimensional latents onto ``codebook_size`` codes.

    Parameters
    ----------
    dim : int
        Latent width d.
    codebook_size : int
        K (32 in the QuantFormer paper).
    dead_code_threshold : float
        Moving assignment count below which a code is restarted (0 disables restarts).
    kmeans_init : bool
        Initialise the codebook by k-means on the first training batch.
    """

    def __init__(
        self, dim: int, codebook_size: int, dead_code_threshold: float = 1.0, kmeans_init: bool = True
    ):
        super().__init__()
        from vector_quantize_pytorch import VectorQuantize

        self.codebook_size = codebook_size
        self.vq = VectorQuantize(
            dim=dim,
            codebook_size=codebook_size,
            learnable_codebook=True,
            ema_update=False,
            rotation_trick=False,
            commitment_weight=0.0,
            threshold_ema_dead_code=dead_code_threshold,
            kmeans_init=kmeans_init,
            kmeans_iters=10,
        )

    @property
    def codebook(self) -> torch.Tensor:
        """The codes, shape (K, d)."""
        return self.vq.codebook

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codes of ``indices`` (any shape), shape ``indices.shape + (d,)``."""
        return self.vq.get_codes_from_indices(indices)

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Indices of the nearest codes, shape ``z.shape[:-1]``; never changes the codebook."""
        flat = z.reshape(-1, z.shape[-1])  # (B*P, d)
        dist = torch.cdist(flat.float(), self.codebook.float())  # (B*P, K)
        return dist.argmin(dim=-1).reshape(z.shape[:-1])

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        """Quantize latents ``z`` of shape (B, P, d)."""
        if self.training:
            _, indices, _ = self.vq(z)  # nearest codes; restarts dead codes of this batch
        else:
            indices = self.nearest(z)
        codes = self.lookup(indices)  # (B, P, d), differentiable in the codebook
        codebook_loss = F.mse_loss(codes, z.detach())
        commitment_loss = F.mse_loss(z, codes.detach())
        quantized = z + (codes - z).detach()
        return QuantizerOutput(quantized, indices, codebook_loss, commitment_loss)
