"""The quantizer: straight-through gradients, the two VQ losses, dead-code restarts, eval mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikebridge.models.quantformer import QuantFormer, QuantFormerConfig, QuantFormerForecaster
from spikebridge.models.vq import CodebookQuantizer


def _quantizer(codes: list[list[float]], threshold: float = 0.0) -> CodebookQuantizer:
    q = CodebookQuantizer(
        dim=len(codes[0]), codebook_size=len(codes), dead_code_threshold=threshold, kmeans_init=False
    )
    with torch.no_grad():
        q.vq.codebook = torch.tensor(codes)
    return q


def test_forward_value_is_the_nearest_code():
    q = _quantizer([[0.0, 0.0], [1.0, 1.0], [-2.0, 0.5]]).eval()
    z = torch.tensor([[[0.9, 1.2], [-1.5, 0.4], [0.1, -0.2]]])  # (1, 3, 2)
    out = q(z)
    assert out.indices.tolist() == [[1, 2, 0]]
    assert torch.equal(out.quantized, torch.tensor([[[1.0, 1.0], [-2.0, 0.5], [0.0, 0.0]]]))


def test_straight_through_gradient_is_the_identity():
    q = _quantizer([[0.0, 0.0], [1.0, 1.0]])
    z = torch.tensor([[[0.2, 0.1], [0.7, 0.9]]], requires_grad=True)
    weights = torch.tensor([[[3.0, -1.0], [0.5, 2.0]]])
    out = q(z)
    (grad,) = torch.autograd.grad((out.quantized * weights).sum(), z)
    assert torch.equal(grad, weights)  # d quantized / d z = identity, although quantized is the codes


def test_codebook_loss_moves_codes_and_commitment_moves_the_encoder():
    q = _quantizer([[0.0, 0.0], [1.0, 1.0]]).eval()
    z = torch.tensor([[[0.2, 0.1], [0.7, 0.9]]], requires_grad=True)
    out = q(z)
    book = q.vq._codebook.embed
    assert book.requires_grad
    g_book_cb, g_z_cb = torch.autograd.grad(
        out.codebook_loss, [book, z], allow_unused=True, retain_graph=True
    )
    g_book_cm, g_z_cm = torch.autograd.grad(out.commitment_loss, [book, z], allow_unused=True)
    assert g_z_cb is None and g_book_cm is None
    # codebook loss: mean over 4 values of (e - sg(z))^2 -> d/de = 2 (e - z) / 4 for the assigned entries
    expected_book = torch.tensor([[[0.0 - 0.2, 0.0 - 0.1], [1.0 - 0.7, 1.0 - 0.9]]]) * 0.5
    assert torch.allclose(g_book_cb, expected_book)
    assert torch.allclose(g_z_cm, (z.detach() - torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])) * 0.5)
    assert out.codebook_loss.item() == pytest.approx(out.commitment_loss.item())
    assert out.codebook_loss.item() == pytest.approx((0.04 + 0.01 + 0.09 + 0.01) / 4)


def test_eval_mode_never_changes_the_codebook_and_training_restarts_dead_codes():
    torch.manual_seed(0)
    q = _quantizer([[0.0, 0.0], [50.0, 50.0], [-50.0, 50.0]], threshold=1.0)
    before = q.codebook.detach().clone()
    z = torch.randn(8, 16, 2) * 0.1  # every latent is nearest to code 0: codes 1 and 2 are dead
    q.eval()
    for _ in range(5):
        q(z)
    assert torch.equal(q.codebook, before)
    q.train()
    for _ in range(5):
        q(z)
    after = q.codebook.detach()
    assert torch.equal(after[0], before[0])
    assert after[1:].abs().max() < 1.0  # the dead codes were restarted on encoder outputs


def test_forecaster_keeps_its_frozen_backbone_in_eval_mode():
    cfg = QuantFormerConfig.profile("tiny", baseline_len=32, response_len=16, patch_size=8)
    model = QuantFormerForecaster(cfg, n_neurons=3, n_stimuli=2)
    model.load_backbone(QuantFormer(cfg))
    model.train()
    assert model.training and model.encoder.training
    assert not model.backbone.training and not model.backbone.quantizer.training
    assert not any(p.requires_grad for p in model.backbone.parameters())


def test_padding_keeps_the_onset_on_a_patch_boundary():
    cfg = QuantFormerConfig.profile("tiny", baseline_len=30, response_len=20, patch_size=8)
    model = QuantFormer(cfg).eval()
    assert (cfg.baseline_patches, cfg.response_patches) == (4, 3)
    base, resp = torch.arange(30.0).reshape(1, 30), 100 + torch.arange(20.0).reshape(1, 20)
    padded = model.patches.pad(base, resp)
    assert padded.shape == (1, 56)
    assert np.array_equal(padded[0, :2].numpy(), [0.0, 0.0]) and padded[0, 32].item() == 100.0
    assert padded[0, -1].item() == 119.0
    rec, _ = model(base, resp)
    assert rec.shape == (1, 50)


def test_prompt_tuning_trains_only_the_prompts_and_the_head():
    from spikebridge.models.quantformer import QuantFormerClassifier
    from spikebridge.training.quantformer import ForecasterModule, QFTrainConfig
    from spikebridge.training.quantformer_fit import _freeze_for_mode

    cfg = QuantFormerConfig.profile("tiny", baseline_len=32, response_len=16, patch_size=8)
    clf = QuantFormerClassifier(cfg, n_neurons=3, n_stimuli=2)
    _freeze_for_mode(clf, "prompt")
    trainable = {n for n, p in clf.named_parameters() if p.requires_grad}
    assert trainable == {
        "prompts.neuron.weight",
        "prompts.stimulus.weight",
        "prompts.cls",
        "head.weight",
        "head.bias",
    }
    fc = QuantFormerForecaster(cfg, n_neurons=3, n_stimuli=2)
    _freeze_for_mode(fc, "fine")
    names = {n for n, p in fc.named_parameters() if p.requires_grad}
    assert not any(n.startswith("backbone.") for n in names) and any(n.startswith("encoder.") for n in names)
    groups = ForecasterModule(fc, QFTrainConfig(finetune_lr=1e-3, encoder_lr_scale=0.1)).param_groups()
    assert [g["lr"] for g in groups] == [1e-3, pytest.approx(1e-4)]
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in fc.prompt_parameters()}
