"""Write labelled images as a Cornell-layout dataset (``pcdNNNNr.png`` + ``pcdNNNNcpos.txt``).

The layout ``datasets.cornell`` reads: four ``x y`` corner lines per rectangle, opening edge
first. ``sources.txt`` maps each ``pcdNNNN`` to the image it came from. The dataset is
written into a temporary folder beside ``out`` and renamed into place, so a failure leaves
nothing half-written.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2

from ..grasp import Grasp
from .records import LabelledImage
from .rectangles import LabelError

FIRST_NUMBER = 1000


def cpos_text(grasps: Sequence[Grasp]) -> str:
    """The ``cpos`` lines of some grasps."""
    return "".join(f"{x:.3f} {y:.3f}\n" for g in grasps for x, y in g.corners())


def _write_one(item: LabelledImage, folder: Path, stem: str) -> None:
    """The image as PNG and its rectangles, under ``stem``."""
    pixels = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
    if pixels is None:
        raise LabelError(f"{item.image}: not a readable image")
    if item.width and (pixels.shape[1], pixels.shape[0]) != (item.width, item.height):
        raise LabelError(f"{item.image}: {pixels.shape[1]}x{pixels.shape[0]} px, but its "
                         f"labels were drawn on {item.width}x{item.height}")
    if not cv2.imwrite(str(folder / f"{stem}r.png"), pixels):
        raise LabelError(f"{folder / f'{stem}r.png'}: cannot write")
    (folder / f"{stem}cpos.txt").write_text(cpos_text(item.grasps))


def write_cornell(items: Sequence[LabelledImage], out: Path) -> int:
    """Write the images that have grasps as a new Cornell dataset at ``out``; their count."""
    if out.exists() and any(out.iterdir()):
        raise LabelError(f"--out {out}: exists and is not empty; choose a new folder")
    kept = sorted((i for i in items if i.grasps), key=lambda i: i.name)
    if not kept:
        raise LabelError("no image has a grasp rectangle: nothing to import")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        lines = []
        for n, item in enumerate(kept, FIRST_NUMBER):
            _write_one(item, tmp, f"pcd{n:04d}")
            lines.append(f"pcd{n:04d} {item.name}\n")
        (tmp / "sources.txt").write_text("".join(lines))
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(kept)
