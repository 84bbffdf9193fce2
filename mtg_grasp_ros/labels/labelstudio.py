"""Label Studio files: tasks with pre-annotations to import, and its JSON export to read.

A task's image is a URL (``data.image``); the pre-labels are one ``prediction`` of
``rectanglelabels`` results with rotation (see ``rectangles``), which the labelling view
:data:`LABEL_CONFIG` opens as editable rotated rectangles. An export is the list of tasks
with their ``annotations``; each task's latest annotation that was not cancelled is read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from ..grasp import Grasp
from .records import LABEL, LabelledImage
from .rectangles import LabelError, label_studio_corners, rectangle_problem, to_label_studio

FROM_NAME, TO_NAME = "grasp", "image"
#: The labelling view: an image and rotatable rectangles labelled "grasp".
LABEL_CONFIG = f"""<View>
  <Image name="{TO_NAME}" value="$image" zoom="true"/>
  <RectangleLabels name="{FROM_NAME}" toName="{TO_NAME}" canRotate="true" strokeWidth="2">
    <Label value="{LABEL}" background="#00c000"/>
  </RectangleLabels>
</View>
"""
#: Label Studio prefixes uploaded files with 8 hex digits and a dash.
UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def to_task(item: LabelledImage, url: str, model_version: str) -> dict:
    """A Label Studio task of one image with its grasps as a prediction (best first)."""
    results = [{"id": f"g{i}", "from_name": FROM_NAME, "to_name": TO_NAME,
                "type": "rectanglelabels", "original_width": item.width,
                "original_height": item.height, "image_rotation": 0, "score": g.quality,
                "value": {**to_label_studio(g, item.width, item.height),
                          "rectanglelabels": [LABEL]}} for i, g in enumerate(item.grasps)]
    score = item.grasps[0].quality if item.grasps else 0.0
    return {"data": {"image": url},
            "predictions": [{"model_version": model_version, "score": score,
                             "result": results}]}


def image_name(url: str) -> str:
    """The file name of a task's image URL (local-files ``?d=`` path, upload or plain URL)."""
    parsed = urlparse(url)
    local = parse_qs(parsed.query).get("d")
    path = local[0] if local else unquote(parsed.path)
    return Path(path).name


def find_image(url: str, images: Path) -> Path:
    """The file in ``images`` that a task's image URL names (an upload prefix is dropped)."""
    name = image_name(url)
    for candidate in (name, UPLOAD_PREFIX.sub("", name)):
        if (images / candidate).is_file():
            return images / candidate
    raise LabelError(f"image {name!r} of the export is not in --images {images}")


def _result_grasp(result: dict, where: str) -> Grasp:
    """The grasp of one annotation result; LabelError when it is not a rectangle."""
    kind = result.get("type")
    if kind != "rectanglelabels":
        raise LabelError(f"{where}: a grasp is a rotated rectangle (rectanglelabels), not a "
                         f"{kind}")
    try:
        corners = label_studio_corners(result["value"], int(result["original_width"]),
                                       int(result["original_height"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise LabelError(f"{where}: rectangle without {exc}") from None
    problem = rectangle_problem(corners)
    if problem:
        raise LabelError(f"{where}: not a usable rectangle: {problem}")
    return Grasp.from_corners(corners)


def _latest_annotation(task: dict) -> dict | None:
    """The task's latest annotation that was not cancelled (None: the task is unlabelled)."""
    kept = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    return max(kept, key=lambda a: (str(a.get("updated_at") or ""), a.get("id") or 0),
               default=None)


def read_export(path: Path, images: Path) -> tuple[list[LabelledImage], int]:
    """The labelled images of a Label Studio JSON export, and how many tasks had no annotation.

    LabelError names the file, task and result of anything that is not a rotated rectangle.
    """
    try:
        tasks = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LabelError(f"{path}: cannot read the export ({exc})") from None
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and "data" in t
                                              for t in tasks):
        raise LabelError(f"{path}: not a Label Studio JSON export (a list of tasks with 'data')")
    items, unlabelled = [], 0
    for t, task in enumerate(tasks):
        annotation = _latest_annotation(task)
        if annotation is None:
            unlabelled += 1
            continue
        url = str(task["data"].get(TO_NAME) or next(iter(task["data"].values()), ""))
        image = find_image(url, images)
        results = [r for r in annotation.get("result", []) if r.get("from_name") == FROM_NAME
                   or r.get("type") != "rectanglelabels"]
        grasps = [_result_grasp(r, f"{path}: task {task.get('id', t + 1)} ({image.name}), "
                                   f"result {i + 1} ({r.get('type')})")
                  for i, r in enumerate(results)]
        first = results[0] if results else {}
        width, height = first.get("original_width"), first.get("original_height")
        items.append(LabelledImage(image, int(width or 0), int(height or 0), grasps))
    return items, unlabelled


def write_tasks(items: list[LabelledImage], path: Path, url_prefix: str,
                model_version: str) -> None:
    """The tasks file (``url_prefix`` + image name per task) and the labelling view beside it."""
    tasks = [to_task(item, url_prefix + item.name, model_version) for item in items]
    path.write_text(json.dumps(tasks, indent=1))
    (path.parent / "label_config.xml").write_text(LABEL_CONFIG)
