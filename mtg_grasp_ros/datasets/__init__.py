"""Datasets in their published formats, ground-truth maps, augmentation and splits."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .cornell import index_cornell, read_cornell_grasps
from .jacquard import index_jacquard
from .records import DatasetError, DatasetIndex, Record

FORMATS: tuple[str, ...] = ("auto", "jacquard", "cornell")


def detect_format(root: str | Path) -> str:
    """``jacquard`` when ``*_grasps.txt`` files exist under ``root``, ``cornell`` when
    ``pcd*cpos.txt`` do; an error naming the directory otherwise.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset directory")
    if next(root.rglob("*_grasps.txt"), None) is not None:
        return "jacquard"
    if next(root.rglob("pcd*cpos.txt"), None) is not None:
        return "cornell"
    raise DatasetError(f"{root}: neither Jacquard (*_grasps.txt) nor Cornell "
                       f"(pcdNNNNcpos.txt) annotations found")


def need_for_aux(aux: str | None) -> tuple[str, ...]:
    """The companion files a record must have for an auxiliary task."""
    return ("rgb",) + ({"depth": ("depth",), "saliency": ("mask",)}.get(aux or "", ()))


def open_dataset(root: str | Path, fmt: str = "auto", need: Iterable[str] = ("rgb",),
                 skip_bad: bool = False) -> DatasetIndex:
    """Index a dataset directory (annotations parsed once, here)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; expected one of {FORMATS}")
    fmt = detect_format(root) if fmt == "auto" else fmt
    index = index_jacquard if fmt == "jacquard" else index_cornell
    return index(root, need=need, skip_bad=skip_bad)


__all__ = ["DatasetError", "DatasetIndex", "FORMATS", "Record", "detect_format",
           "index_cornell", "index_jacquard", "need_for_aux", "open_dataset",
           "read_cornell_grasps"]
