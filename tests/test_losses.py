"""Losses against hand-computed values on tiny tensors, and unit masking."""

import math

import pytest
import torch

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.training.losses import bce_loss, dice_loss, focal_loss, get_loss, weighted_bce_loss

# logits 0 -> p = 0.5; logit ln(3) -> p = 0.75; logit -ln(3) -> p = 0.25
LN3 = math.log(3.0)
LOGITS = torch.tensor([[[0.0, LN3], [-LN3, 0.0]]])  # (B=1, T=2, N=2)
TARGETS = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
# p = [[0.5, 0.75], [0.25, 0.5]], y = [[1, 1], [0, 0]]


def test_dice_by_hand():
    # sum(p*y) = 1.25, sum(p) = 2.0, sum(y) = 2.0
    expected = 1.0 - (2 * 1.25 + 1.0) / (2.0 + 2.0 + 1.0)
    assert dice_loss(LOGITS, TARGETS, smooth=1.0).item() == pytest.approx(expected, abs=1e-6)
    assert dice_loss(LOGITS, TARGETS, smooth=0.0).item() == pytest.approx(1.0 - 2.5 / 4.0, abs=1e-6)


def test_bce_by_hand():
    # p_t = [0.5, 0.75, 0.75, 0.5]
    expected = -(2 * math.log(0.5) + 2 * math.log(0.75)) / 4
    assert bce_loss(LOGITS, TARGETS).item() == pytest.approx(expected, abs=1e-6)


def test_weighted_bce_by_hand():
    expected = -(3 * math.log(0.5) + 3 * math.log(0.75) + math.log(0.75) + math.log(0.5)) / 4
    assert weighted_bce_loss(LOGITS, TARGETS, pos_weight=3.0).item() == pytest.approx(expected, abs=1e-6)


def test_weighted_bce_automatic_pos_weight_is_the_batch_ratio():
    # 2 spikes, 2 silent bins -> ratio 1; with unit 1 masked: 1 spike, 1 silent -> ratio 1
    assert weighted_bce_loss(LOGITS, TARGETS, pos_weight=None).item() == pytest.approx(
        bce_loss(LOGITS, TARGETS).item()
    )
    targets = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])  # 1 spike, 3 silent -> ratio 3
    assert weighted_bce_loss(LOGITS, targets, pos_weight=None).item() == pytest.approx(
        weighted_bce_loss(LOGITS, targets, pos_weight=3.0).item()
    )


def test_focal_by_hand():
    terms = [(0.5, 1), (0.75, 1), (0.75, 0), (0.5, 0)]  # (p_t, y)
    expected = sum(-((1 - p) ** 2) * math.log(p) for p, _ in terms) / 4
    assert focal_loss(LOGITS, TARGETS).item() == pytest.approx(expected, abs=1e-6)
    alpha = 0.25
    weighted = sum(-(alpha if y else 1 - alpha) * (1 - p) ** 2 * math.log(p) for p, y in terms) / 4
    assert focal_loss(LOGITS, TARGETS, alpha=alpha).item() == pytest.approx(weighted, abs=1e-6)
    assert focal_loss(LOGITS, TARGETS, gamma=0.0).item() == pytest.approx(bce_loss(LOGITS, TARGETS).item())


@pytest.mark.parametrize("name", ["dice", "focal", "bce", "wbce"])
def test_masked_units_contribute_nothing(name):
    loss = get_loss(name)
    mask = torch.tensor([True, False])
    garbage_logits = LOGITS.clone()
    garbage_logits[..., 1] = torch.tensor([[50.0, -7.0]])
    garbage_targets = TARGETS.clone()
    garbage_targets[..., 1] = 1.0 - garbage_targets[..., 1]
    reference = loss(LOGITS[..., :1], TARGETS[..., :1])
    assert loss(LOGITS, TARGETS, mask).item() == pytest.approx(reference.item(), abs=1e-6)
    assert loss(garbage_logits, garbage_targets, mask).item() == pytest.approx(reference.item(), abs=1e-6)


def test_masked_dice_by_hand():
    # unit 0 only: p = [0.5, 0.25], y = [1, 0]
    expected = 1.0 - (2 * 0.5 + 1.0) / (0.75 + 1.0 + 1.0)
    assert dice_loss(LOGITS, TARGETS, torch.tensor([True, False])).item() == pytest.approx(expected, abs=1e-6)


def test_losses_have_gradients_and_accept_bool_targets():
    logits = LOGITS.clone().requires_grad_(True)
    for name in ("dice", "focal", "bce", "wbce"):
        get_loss(name)(logits, TARGETS.bool()).backward()
    assert torch.isfinite(logits.grad).all()


def test_get_loss_binds_arguments_and_rejects_bad_ones():
    assert get_loss("wbce", pos_weight=3.0)(LOGITS, TARGETS).item() == pytest.approx(
        weighted_bce_loss(LOGITS, TARGETS, pos_weight=3.0).item()
    )
    with pytest.raises(SpikebridgeConfigError, match="loss"):
        get_loss("mse")
    with pytest.raises(SpikebridgeConfigError, match="gamma"):
        get_loss("dice", gamma=2.0)
