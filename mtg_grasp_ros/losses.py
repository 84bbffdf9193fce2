"""The paper's two losses: the standard sum of MSEs (eq. 2) and the positional loss (eq. 3)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSSES: tuple[str, ...] = ("standard", "positional")


@dataclass
class LossResult:
    """The total loss and each term (``q``, ``cos``, ``sin``, ``width`` and maybe ``aux``)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]

    def items(self) -> dict[str, float]:
        """Plain floats for logging."""
        return {"loss": float(self.total), **{k: float(v) for k, v in self.terms.items()}}


def grasp_loss(pred: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
               positional: bool = False) -> LossResult:
    """Eq. (2), or eq. (3) when ``positional``: cos, sin and width errors times Q_GT per pixel.

    Each term is a mean over pixels (and the batch); the total is their sum. The auxiliary
    term is included when the prediction has an ``aux`` map.
    """
    terms = {"q": F.mse_loss(pred["q"], target["q"])}
    weight = target["q"] if positional else None
    for k in ("cos", "sin", "width"):
        err = pred[k] - target[k]
        if weight is not None:
            err = weight * err
        terms[k] = err.square().mean()
    if "aux" in pred:
        if "aux" not in target:
            raise KeyError("the network has an auxiliary branch but the target has no 'aux' map")
        terms["aux"] = F.mse_loss(pred["aux"], target["aux"])
    total = torch.stack(list(terms.values())).sum()
    return LossResult(total, terms)


def loss_by_name(name: str):
    """The loss function for a config name ('standard' or 'positional')."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {LOSSES}")
    positional = name == "positional"
    return lambda pred, target: grasp_loss(pred, target, positional=positional)
