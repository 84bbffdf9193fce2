"""Where the package's files are: the installed share folder first, then the source tree.

One lookup for the bundled model, the shipped parameters file and the sample bag, used by
the node, the demo and the command line: the share folder of an installed package (ament
index, as ``colcon build`` installs it), else ``sys.prefix/share/mtg_grasp_ros`` (a pip
install), else the source tree this module lives in (a checkout).
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = "mtg_grasp_ros"
#: The checkout this module was imported from (its ``models/``, ``config/``, ``bags/``).
SOURCE_TREE = Path(__file__).resolve().parent.parent


def search_path() -> list[Path]:
    """The folders looked in, in order: ament share folder, sys.prefix/share, source tree."""
    folders: list[Path] = []
    try:
        from ament_index_python.packages import get_package_share_directory
        folders.append(Path(get_package_share_directory(PACKAGE)))
    except (ImportError, LookupError, OSError, ValueError):   # not installed / no ament index
        pass
    folders.append(Path(sys.prefix) / "share" / PACKAGE)
    folders.append(SOURCE_TREE)
    return folders


def find(relative: str) -> Path:
    """The first existing ``folder / relative`` of :func:`search_path`; else the source tree's.

    The fallback path may not exist: callers that open it get an error naming it.
    """
    for folder in search_path():
        if (folder / relative).exists():
            return folder / relative
    return SOURCE_TREE / relative


def default_model_path() -> Path:
    """The bundled model, ``models/`` + :data:`~mtg_grasp_ros.settings.MODEL_FILE`."""
    from .settings import MODEL_FILE

    return find(f"models/{MODEL_FILE}")


def params_file() -> Path:
    """The shipped parameters file, ``config/grasp_detector.yaml``."""
    return find("config/grasp_detector.yaml")


def sample_bag() -> Path:
    """The bundled sample bag, ``bags/sample_table``."""
    return find("bags/sample_table")
