"""The Cornell grasping dataset: ``pcdNNNNr.png``, ``pcdNNNNcpos.txt``, optional ``pcdNNNNd.tiff``.

A ``cpos`` file holds four lines of ``x y`` per grasp: the rectangle's corners, the first
edge along the jaws' closing direction. Real files contain rows of ``NaN``: a rectangle
with a NaN corner is dropped and counted, never guessed. Anything else malformed is an
error naming the file and line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..grasp import Grasp, GraspFileError, quote, read_ascii_lines
from .records import DatasetError, DatasetIndex, Record, grasps_to_array

CPOS = re.compile(r"^pcd(\d+)cpos\.txt$")


def read_cornell_grasps(path: str | Path) -> tuple[list[Grasp], int]:
    """The grasps of a ``cpos`` file and how many rectangles were dropped for NaN corners."""
    path = Path(path)
    lines = [(i, line.strip()) for i, line in read_ascii_lines(path)]
    if len(lines) % 4:
        raise GraspFileError(f"{path}:{lines[-1][0]}: {len(lines)} corner lines, "
                             f"not a multiple of 4 (each rectangle is four 'x y' lines)")
    grasps, dropped = [], 0
    for k in range(0, len(lines), 4):
        pts = []
        for lineno, text in lines[k:k + 4]:
            fields = text.split()
            try:
                if len(fields) != 2:
                    raise ValueError
                pts.append([float(fields[0]), float(fields[1])])
            except ValueError:
                raise GraspFileError(f"{path}:{lineno}: expected 'x y', "
                                     f"got {quote(text)}") from None
        corners = np.array(pts)
        if not np.isfinite(corners).all():
            dropped += 1
            continue
        g = Grasp.from_corners(corners)
        if not (g.width > 0 and g.jaw > 0 and math.isfinite(g.angle)):
            raise GraspFileError(f"{path}:{lines[k][0]}: degenerate rectangle {pts}")
        grasps.append(g)
    return grasps, dropped


def index_cornell(root: str | Path, need: Iterable[str] = ("rgb",),
                  skip_bad: bool = False) -> DatasetIndex:
    """All ``pcdNNNNcpos.txt`` under ``root`` (recursively) with their ``r.png`` images.

    Cornell has no masks and no object ids in these files, so only ``rgb`` (and ``depth``
    from ``d.tiff``) can be needed, and splits can only be image-wise.
    """
    root = Path(root)
    need = tuple(need)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset directory")
    unsupported = set(need) - {"rgb", "depth"}
    if unsupported:
        raise DatasetError(f"{root}: Cornell has no {sorted(unsupported)} files"
                           + (" (saliency needs masks: use Jacquard-format data)"
                              if "mask" in unsupported else ""))
    records, skipped, dropped = [], [], 0
    for f in sorted(p for p in root.rglob("pcd*cpos.txt") if CPOS.match(p.name)):
        match = CPOS.match(f.name)
        assert match is not None     # the files were chosen by this pattern
        num = match.group(1)
        rgb, depth = f.with_name(f"pcd{num}r.png"), f.with_name(f"pcd{num}d.tiff")
        try:
            if not rgb.is_file():
                raise DatasetError(f"{rgb}: missing image for {f}")
            if "depth" in need and not depth.is_file():
                raise DatasetError(f"{depth}: missing depth file for {f}")
            grasps, n_nan = read_cornell_grasps(f)
            if not grasps:
                raise DatasetError(f"{f}: no usable grasps ({n_nan} with NaN corners)")
        except (DatasetError, GraspFileError, UnicodeDecodeError, OSError) as exc:
            if not skip_bad:
                raise DatasetError(str(exc)) from exc
            skipped.append(str(exc))
            continue
        dropped += n_nan
        rel = f.parent.relative_to(root).as_posix()
        records.append(Record(id=f"{rel}/pcd{num}" if rel != "." else f"pcd{num}",
                              object_id=None, rgb=rgb, grasps=grasps_to_array(grasps),
                              depth=depth if depth.is_file() else None))
    if not records:
        raise DatasetError(f"{root}: no Cornell images (pcdNNNNcpos.txt) found"
                           + (f"; {len(skipped)} skipped" if skipped else ""))
    return DatasetIndex(root, "cornell", records, skipped, dropped)
