"""GG-CNN2 and MTG-CNN (the paper's Fig. 2), and the grasp-only form deployed on the robot.

One class serves both networks: ``GraspCNN(aux=None)`` is GG-CNN2, and ``GraspCNN(aux="depth")``
or ``aux="saliency"`` is MTG-CNN, whose auxiliary branch duplicates the second half of the
network and ends in one map. ``grasp_only()`` drops that branch for deployment; its state
dict is a subset of the full one, so the grasp outputs are identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

Arch = Literal["ggcnn2", "mtgcnn"]
Aux = Literal["depth", "saliency"]
Upsample = Literal["transpose", "bilinear"]

ARCHS: tuple[str, ...] = ("ggcnn2", "mtgcnn")
AUX_TASKS: tuple[str, ...] = ("depth", "saliency")
UPSAMPLES: tuple[str, ...] = ("transpose", "bilinear")
GRASP_MAPS: tuple[str, ...] = ("q", "cos", "sin", "width")

#: GG-CNN2's filter counts: first convs, second convs, dilated convs, upsampling convs.
FILTERS = (16, 16, 32, 16)
DILATIONS = (2, 4)
INPUT_SIZE = 300
#: Sane network input sizes: below 32 px the 11x11 and dilated 5x5 filters see mostly padding;
#: above 2048 px one forward pass needs tens of GB.
INPUT_SIZE_RANGE = (32, 2048)
#: Input channels: grey, RGB or RGB-D.
INPUT_CHANNELS_RANGE = (1, 4)
#: A width of 1.0 at the output is this many pixels of the 300 px network input.
WIDTH_SCALE_PX = 150.0


@dataclass(frozen=True)
class ModelConfig:
    """What is needed to build a network; stored with its weights."""

    arch: str = "mtgcnn"
    aux: str | None = "depth"
    upsample: str = "transpose"
    input_channels: int = 3
    input_size: int = INPUT_SIZE

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r}; expected one of {ARCHS}")
        if self.arch == "ggcnn2" and self.aux is not None:
            raise ValueError("ggcnn2 has no auxiliary branch; use arch 'mtgcnn' for aux "
                             f"{self.aux!r}")
        if self.arch == "mtgcnn" and self.aux not in AUX_TASKS:
            raise ValueError(f"mtgcnn needs an auxiliary task in {AUX_TASKS}, got {self.aux!r}")
        if self.upsample not in UPSAMPLES:
            raise ValueError(f"unknown upsampling {self.upsample!r}; expected one of {UPSAMPLES}")
        for name, (lo, hi) in (("input_size", INPUT_SIZE_RANGE),
                               ("input_channels", INPUT_CHANNELS_RANGE)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")
        if self.input_size % 4:
            raise ValueError(f"input size must be a multiple of 4 (two 2x poolings), "
                             f"got {self.input_size}")


def _shared_layers(in_ch: int) -> nn.Sequential:
    """The first half: conv 11x11, conv 5x5, pool, conv 5x5 x2, pool (paper Fig. 2)."""
    f1, f2 = FILTERS[0], FILTERS[1]
    return nn.Sequential(
        nn.Conv2d(in_ch, f1, 11, padding=5), nn.ReLU(inplace=True),
        nn.Conv2d(f1, f1, 5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(f1, f2, 5, padding=2), nn.ReLU(inplace=True),
        nn.Conv2d(f2, f2, 5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(2, 2),
    )


def _upsample(in_ch: int, out_ch: int, mode: str) -> list[nn.Module]:
    """A 2x upsampling 3x3 layer: transposed conv (paper) or bilinear + conv (GG-CNN2 code)."""
    if mode == "transpose":
        return [nn.ConvTranspose2d(in_ch, out_ch, 3, stride=2, padding=1, output_padding=1)]
    return [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(in_ch, out_ch, 3, padding=1)]


def _branch_layers(upsample: str) -> nn.Sequential:
    """The second half: dilated 5x5 (d=2, d=4), then two 3x3 upsampling layers."""
    f2, f3, f4 = FILTERS[1], FILTERS[2], FILTERS[3]
    d1, d2 = DILATIONS
    return nn.Sequential(
        nn.Conv2d(f2, f3, 5, dilation=d1, padding=2 * d1), nn.ReLU(inplace=True),
        nn.Conv2d(f3, f3, 5, dilation=d2, padding=2 * d2), nn.ReLU(inplace=True),
        *_upsample(f3, f4, upsample), nn.ReLU(inplace=True),
        *_upsample(f4, f4, upsample), nn.ReLU(inplace=True),
    )


class GraspCNN(nn.Module):
    """GG-CNN2 (``aux=None``) or MTG-CNN (``aux`` set); outputs a dict of (B, 1, H, W) maps.

    Keys: ``q`` (grasp quality), ``cos`` and ``sin`` (of twice the angle), ``width`` (opening
    / 150 px), and ``aux`` (depth or saliency) when the auxiliary branch is present.
    The outputs are linear, as in GG-CNN; postprocessing clamps them.
    """

    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        self.shared = _shared_layers(config.input_channels)
        self.grasp = _branch_layers(config.upsample)
        self.heads = nn.ModuleDict({k: nn.Conv2d(FILTERS[3], 1, 1) for k in GRASP_MAPS})
        if config.aux is not None:
            self.aux = _branch_layers(config.upsample)
            self.aux_head = nn.Conv2d(FILTERS[3], 1, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        # Xavier-uniform as in the GG-CNN code.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(m.weight, gain=1)

    @property
    def has_aux(self) -> bool:
        """Whether the network has an auxiliary (depth or saliency) head."""
        return self.config.aux is not None

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The output maps (q, cos, sin, width and any auxiliary map) of a batch."""
        features = self.shared(x)
        g = self.grasp(features)
        out = {k: head(g) for k, head in self.heads.items()}
        if self.has_aux:
            out["aux"] = self.aux_head(self.aux(features))
        return out

    def grasp_only(self) -> GraspCNN:
        """The deployment network: shared layers and grasp branch, no auxiliary weights."""
        cfg = ModelConfig("ggcnn2", None, self.config.upsample, self.config.input_channels,
                          self.config.input_size)
        net = GraspCNN(cfg)
        net.load_state_dict(grasp_state_dict(self.state_dict()))
        return net.to(next(self.parameters()).device).train(self.training)


def grasp_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The part of a (possibly MTG-CNN) state dict that the grasp-only network uses."""
    return {k: v for k, v in state.items() if not k.startswith(("aux.", "aux_head."))}


def build_model(arch: str = "mtgcnn", aux: str | None = "depth", upsample: str = "transpose",
                input_channels: int = 3, input_size: int = INPUT_SIZE) -> GraspCNN:
    """Build a network by name; ``aux`` is ignored (forced to None) for ggcnn2."""
    return GraspCNN(ModelConfig(arch, aux if arch == "mtgcnn" else None, upsample,
                                input_channels, input_size))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters())


def forward_flops(model: nn.Module, size: int = INPUT_SIZE, channels: int = 3) -> int:
    """Floating-point operations (multiply and add counted apart) of one forward pass."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, channels, size, size, device=next(model.parameters()).device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())
