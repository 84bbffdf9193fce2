"""The Jacquard dataset in its published layout: ``<object>/<k>_<object>_<kind>``.

Kinds: ``RGB.png``, ``perfect_depth.tiff``, ``stereo_depth.tiff``, ``mask.png`` and
``grasps.txt`` (``x;y;theta_deg;opening;jaw_size`` lines, CRLF); this project's generator
adds ``camera.json`` (``datasets.cameras``). The archive's parts may
nest object folders at any depth, so ``*_grasps.txt`` is searched recursively. Grasp files
are parsed here, once, with :func:`~mtg_grasp_ros.grasp.read_jacquard_grasps`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..grasp import GraspFileError, read_jacquard_grasps
from .records import DatasetError, DatasetIndex, Record, grasps_to_array

SUFFIX = "_grasps.txt"


def _companions(grasp_file: Path) -> dict[str, Path]:
    stem = grasp_file.name[: -len(SUFFIX)]
    d = grasp_file.parent
    return {"rgb": d / f"{stem}_RGB.png", "depth": d / f"{stem}_perfect_depth.tiff",
            "mask": d / f"{stem}_mask.png", "stereo": d / f"{stem}_stereo_depth.tiff",
            "camera": d / f"{stem}_camera.json"}


def jacquard_record(grasp_file: Path, root: Path, need: Iterable[str] = ("rgb",)) -> Record:
    """One scene's record; raises DatasetError / GraspFileError naming the bad file."""
    stem = grasp_file.name[: -len(SUFFIX)]
    obj = grasp_file.parent.name
    if "_" not in stem or stem.split("_", 1)[1] != obj:
        raise DatasetError(f"{grasp_file}: not in Jacquard layout "
                           f"'<object>/<k>_<object>{SUFFIX}' (object folder {obj!r})")
    files = _companions(grasp_file)
    for kind in need:
        if not files[kind].is_file():
            raise DatasetError(f"{files[kind]}: missing {kind} file for {grasp_file}")
    grasps = read_jacquard_grasps(grasp_file)
    rel = grasp_file.parent.relative_to(root).as_posix()
    return Record(id=f"{rel}/{stem}", object_id=obj, rgb=files["rgb"],
                  grasps=grasps_to_array(grasps),
                  depth=files["depth"] if files["depth"].is_file() else None,
                  mask=files["mask"] if files["mask"].is_file() else None,
                  camera=files["camera"] if files["camera"].is_file() else None)


def index_jacquard(root: str | Path, need: Iterable[str] = ("rgb",),
                   skip_bad: bool = False) -> DatasetIndex:
    """All scenes under ``root``, sorted by id. ``need``: companions that must exist.

    A bad scene raises an error naming its file and line, or with ``skip_bad`` is left out
    and listed in ``DatasetIndex.skipped`` with the reason.
    """
    root = Path(root)
    need = tuple(need)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset directory")
    records, skipped = [], []
    for f in sorted(root.rglob(f"*{SUFFIX}")):
        try:
            records.append(jacquard_record(f, root, need))
        except (DatasetError, GraspFileError, UnicodeDecodeError, OSError) as exc:
            if not skip_bad:
                raise DatasetError(str(exc)) from exc
            skipped.append(str(exc))
    if not records:
        raise DatasetError(f"{root}: no Jacquard scenes (*{SUFFIX}) found"
                           + (f"; {len(skipped)} skipped" if skipped else ""))
    return DatasetIndex(root, "jacquard", records, skipped)
