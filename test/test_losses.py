"""Eq. (2) and eq. (3) against hand-computed values on tiny tensors."""

import pytest
import torch

from mtg_grasp_ros.losses import grasp_loss, loss_by_name
from mtg_grasp_ros.model import build_model


def maps(q, cos, sin, width, aux=None):
    t = lambda v: torch.tensor(v, dtype=torch.float32).view(1, 1, 1, -1)  # noqa: E731
    d = {"q": t(q), "cos": t(cos), "sin": t(sin), "width": t(width)}
    if aux is not None:
        d["aux"] = t(aux)
    return d


PRED = maps([0.5, 0.0], [1.0, 1.0], [0.0, 0.5], [0.2, 0.4], aux=[0.3, 0.7])
GT = maps([1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], aux=[0.0, 1.0])


def test_standard_loss_by_hand():
    r = grasp_loss(PRED, GT)
    # Per-map means over the two pixels.
    assert r.terms["q"].item() == pytest.approx((0.25 + 0) / 2)
    assert r.terms["cos"].item() == pytest.approx((1 + 1) / 2)
    assert r.terms["sin"].item() == pytest.approx((0 + 0.25) / 2)
    assert r.terms["width"].item() == pytest.approx((0.04 + 0.16) / 2)
    assert r.terms["aux"].item() == pytest.approx((0.09 + 0.09) / 2)
    assert r.total.item() == pytest.approx(0.125 + 1 + 0.125 + 0.1 + 0.09)


def test_positional_loss_by_hand_ignores_errors_where_q_gt_is_zero():
    r = grasp_loss(PRED, GT, positional=True)
    assert r.terms["q"].item() == pytest.approx(0.125)           # unchanged
    assert r.terms["cos"].item() == pytest.approx((1 * 1) / 2)   # only pixel 0 counts
    assert r.terms["sin"].item() == pytest.approx(0.0)           # error only at pixel 1
    assert r.terms["width"].item() == pytest.approx(0.04 / 2)
    assert r.terms["aux"].item() == pytest.approx(0.09)          # unchanged
    # Changing angle/width where Q_GT = 0 changes nothing.
    other = {k: v.clone() for k, v in PRED.items()}
    other["cos"][..., 1] = -7.0
    other["width"][..., 1] = 9.0
    assert grasp_loss(other, GT, positional=True).total.item() == pytest.approx(r.total.item())
    assert grasp_loss(other, GT).total.item() > r.total.item()


def test_positional_weight_scales_error_before_squaring():
    gt = maps([0.5], [0.0], [0.0], [0.0])
    pred = maps([0.5], [1.0], [0.0], [0.0])
    assert grasp_loss(pred, gt, positional=True).terms["cos"].item() == pytest.approx(0.25)


def test_without_aux_branch_there_is_no_aux_term():
    pred = {k: v for k, v in PRED.items() if k != "aux"}
    assert "aux" not in grasp_loss(pred, GT).terms


def test_aux_prediction_needs_aux_target():
    with pytest.raises(KeyError, match="aux"):
        grasp_loss(PRED, {k: v for k, v in GT.items() if k != "aux"})


@pytest.mark.parametrize("name", ["standard", "positional"])
def test_gradients_reach_the_aux_branch(name):
    torch.manual_seed(0)
    model = build_model("mtgcnn", "depth")
    out = model(torch.randn(2, 3, 300, 300))
    target = {k: torch.rand_like(v) for k, v in out.items()}
    loss_by_name(name)(out, target).total.backward()
    assert model.aux[0].weight.grad.abs().sum() > 0
    assert model.aux_head.weight.grad.abs().sum() > 0
    assert model.shared[0].weight.grad.abs().sum() > 0


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="unknown loss"):
        loss_by_name("focal")
