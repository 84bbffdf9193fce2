"""What a dataset index holds for one image: its files and its grasps, parsed once.

Loaders (Jacquard, Cornell) build :class:`Record` lists at index time, so that the per-sample
work in training is image decoding and warping only. Records are small and picklable, so
DataLoader workers receive them cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..grasp import Grasp


class DatasetError(ValueError):
    """A dataset that cannot be used as asked; the message names the file (and line)."""


@dataclass(frozen=True)
class Record:
    """One annotated image: an id unique in the dataset, its object, files and grasps.

    ``grasps`` is an (N, 5) float64 array of ``x, y, angle, width, jaw`` in source-image
    pixels (the :class:`~mtg_grasp_ros.grasp.Grasp` convention).
    """

    id: str
    object_id: str | None
    rgb: Path
    grasps: np.ndarray
    depth: Path | None = None
    mask: Path | None = None
    #: The generator's ``*_camera.json`` beside a synthetic view (``datasets.cameras``).
    camera: Path | None = None

    def grasp_list(self) -> list[Grasp]:
        """The ``grasps`` array as Grasp objects."""
        return [Grasp(*map(float, row)) for row in self.grasps]


def grasps_to_array(grasps: list[Grasp]) -> np.ndarray:
    """(N, 5) array ``x, y, angle, width, jaw`` of a list of grasps."""
    return np.array([[g.x, g.y, g.angle, g.width, g.jaw] for g in grasps],
                    dtype=np.float64).reshape(-1, 5)


@dataclass
class DatasetIndex:
    """The records of a dataset, plus what was skipped and why (when skipping was asked)."""

    root: Path
    format: str
    records: list[Record]
    skipped: list[str] = field(default_factory=list)
    #: Annotation rows dropped inside otherwise good files (e.g. Cornell NaN rows).
    dropped_rows: int = 0

    def by_id(self) -> dict[str, Record]:
        """The records keyed by their id."""
        return {r.id: r for r in self.records}

    def summary(self) -> str:
        """One line for logs: format, root, image and grasp counts, what was skipped or dropped."""
        n = sum(len(r.grasps) for r in self.records)
        text = f"{self.format} at {self.root}: {len(self.records)} images, {n} grasps"
        if self.skipped:
            text += f", {len(self.skipped)} skipped"
        if self.dropped_rows:
            text += f", {self.dropped_rows} annotation rows dropped"
        return text
