"""Imports of files written by the real tools: a Label Studio export of an edit made in its
UI, and labelme files saved by labelme's own code (see the READMEs beside the fixtures).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from mtg_grasp_ros.cli import main
from mtg_grasp_ros.grasp import Grasp, angle_difference
from mtg_grasp_ros.labels import labelme, labelstudio
from mtg_grasp_ros.labels.rectangles import label_studio_corners

DATA = Path(__file__).parent / "data"
IMAGES = DATA / "label_images"


def test_label_studio_export_of_a_rectangle_drawn_and_rotated_in_the_ui() -> None:
    items, unlabelled = labelstudio.read_export(DATA / "label_studio" / "export.json", IMAGES)
    assert unlabelled == 0 and [i.name for i in items] == ["synthetic_a.png", "synthetic_b.png"]
    drawn = json.loads((DATA / "label_studio" / "drawn.json").read_text())
    (x0, y0), (x1, y1) = drawn["start"], drawn["end"]
    # the new rectangle: dragged rotation turns about the centre, so the centre stays where it
    # was drawn (within the drag's few pixels of slack), the opening turned by the handle
    new = items[0].grasps[-1]
    assert math.hypot(new.x - (x0 + x1) / 2, new.y - (y0 + y1) / 2) < 3.0
    assert new.width == pytest.approx(x1 - x0, abs=3.0)
    assert new.jaw == pytest.approx(y1 - y0, abs=3.0)
    assert math.degrees(angle_difference(new.angle, math.radians(drawn["rotation_deg"]))) < 1.0
    # the pre-labels the user kept are the suggested rectangles, unchanged
    tasks = json.loads((DATA / "label_studio" / "tasks.json").read_text())
    suggested = [[Grasp.from_corners(label_studio_corners(r["value"], 480, 360))
                  for r in t["predictions"][0]["result"]] for t in tasks]
    kept = items[0].grasps[:-1]
    assert len(kept) == 2 and len(items[1].grasps) == 3
    for g in kept + items[1].grasps:
        assert any(np.allclose(g.corners(), s.corners(), atol=1e-6) for s in sum(suggested, []))


def test_label_studio_export_imports_to_a_dataset(tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    assert main(["label", "import", "--format", "label-studio",
                 str(DATA / "label_studio" / "export.json"), "--images", str(IMAGES),
                 "--out", str(out)]) == 0
    lines = (out / "pcd1000cpos.txt").read_text().splitlines()
    assert len(lines) == 3 * 4 and (out / "pcd1001r.png").is_file()


def labelme_folder(tmp_path: Path, source: Path) -> Path:
    folder = tmp_path / source.name
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("*.txt", "*.md"))
    for image in IMAGES.glob("*.png"):
        shutil.copy(image, folder)
    return folder


def test_labelme_files_saved_by_labelme(tmp_path: Path) -> None:
    items = labelme.read_labelme_dir(labelme_folder(tmp_path, DATA / "label_labelme"))
    moved = items[0].grasps[0]
    assert (moved.x, moved.y) == pytest.approx((225.0, 150.0), abs=1e-6)
    assert (moved.width, moved.jaw) == pytest.approx((50.0, 20.0), abs=1e-6)
    assert math.degrees(angle_difference(moved.angle, math.radians(60))) < 1e-6
    assert [len(i.grasps) for i in items] == [2, 3]


def test_labelme_circle_is_refused_naming_file_and_shape(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    folder = labelme_folder(tmp_path, DATA / "label_labelme_bad")
    assert main(["label", "import", "--format", "labelme", str(folder), "--out",
                 str(tmp_path / "dataset")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {folder / 'synthetic_a.json'}: shape 1 (circle 'grasp'): a grasp "
                   f"is a 4-point polygon (a rotated rectangle), not a circle")
    assert not (tmp_path / "dataset").exists()
