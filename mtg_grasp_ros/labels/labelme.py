"""labelme's per-image JSON files: one 4-point ``polygon`` shape per grasp rectangle.

labelme keeps ``<image>.json`` beside each image (``imagePath`` relative to the JSON file,
``imageData`` null or the image in base64, ``shapes`` with ``label``, ``points``,
``shape_type``); ``labelme DIR`` opens such a folder with the pre-labels in place.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np

from .records import LABEL, LabelledImage
from .rectangles import LabelError, from_points

#: The labelme file version these files follow (labelme 5's format).
VERSION = "5.5.0"


def to_labelme(item: LabelledImage) -> dict:
    """The labelme document of one image's grasps (corners in Cornell order)."""
    shapes: list[dict] = [{"label": LABEL, "points": [[round(float(x), 3), round(float(y), 3)]
                                          for x, y in g.corners()],
               "group_id": None, "description": f"quality {g.quality:.3f}",
               "shape_type": "polygon", "flags": {}, "mask": None} for g in item.grasps]
    return {"version": VERSION, "flags": {}, "shapes": shapes, "imagePath": item.name,
            "imageData": None, "imageHeight": item.height, "imageWidth": item.width}


def _image_of(path: Path, doc: dict, scratch: Path | None) -> tuple[Path, int, int]:
    """The image a labelme file describes: beside it by ``imagePath``, else its ``imageData``
    written into ``scratch``; with the size in pixels.
    """
    image = path.parent / str(doc.get("imagePath") or "")
    if doc.get("imagePath") and image.is_file():
        return image, int(doc["imageWidth"]), int(doc["imageHeight"])
    if doc.get("imageData") and scratch is not None:
        data = np.frombuffer(base64.b64decode(doc["imageData"]), np.uint8)
        pixels = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if pixels is None:
            raise LabelError(f"{path}: imageData is not a readable image")
        image = scratch / f"{path.stem}.png"
        cv2.imwrite(str(image), pixels)
        return image, pixels.shape[1], pixels.shape[0]
    raise LabelError(f"{path}: image {doc.get('imagePath')!r} not found beside it and no "
                     f"imageData")


def read_labelme_file(path: Path, scratch: Path | None = None) -> LabelledImage:
    """One labelme JSON file; LabelError names the file and the shape that is no rectangle."""
    try:
        doc = json.loads(path.read_text())
        shapes = doc["shapes"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LabelError(f"{path}: not a labelme file ({exc})") from None
    image, width, height = _image_of(path, doc, scratch)
    item = LabelledImage(image, width, height)
    for i, shape in enumerate(shapes):
        kind, label = shape.get("shape_type") or "polygon", shape.get("label")
        where = f"{path}: shape {i + 1} ({kind} {label!r})"
        if kind != "polygon":
            raise LabelError(f"{where}: a grasp is a 4-point polygon (a rotated rectangle), "
                             f"not a {kind}")
        try:
            item.grasps.append(from_points(np.asarray(shape["points"], dtype=np.float64)))
        except (LabelError, ValueError, KeyError) as exc:
            raise LabelError(f"{where}: not a rectangle: {exc}") from None
    return item


def read_labelme_dir(folder: Path, scratch: Path | None = None) -> list[LabelledImage]:
    """Every labelme JSON file in ``folder``, in name order."""
    if not folder.is_dir():
        raise LabelError(f"{folder}: no such folder of labelme files")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise LabelError(f"{folder}: no labelme .json files in it")
    return [read_labelme_file(f, scratch) for f in files]


def write_labelme(item: LabelledImage, folder: Path) -> Path:
    """Write ``<image stem>.json`` beside the image in ``folder``; its path."""
    path = folder / f"{Path(item.name).stem}.json"
    path.write_text(json.dumps(to_labelme(item), indent=2))
    return path
