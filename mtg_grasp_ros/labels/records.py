"""The labels of one image, as every tool format is read into and written from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..grasp import Grasp

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
LABEL = "grasp"


@dataclass
class LabelledImage:
    """An image file, its size in pixels and its grasp rectangles (best first)."""

    image: Path
    width: int
    height: int
    grasps: list[Grasp] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The image's file name, which the tools' files refer to it by."""
        return self.image.name
