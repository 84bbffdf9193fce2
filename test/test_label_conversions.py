"""Grasp rectangles to and from Label Studio and labelme, and ``mtg_grasp label`` end to end."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from mtg_grasp_ros.cli import main
from mtg_grasp_ros.datasets.cornell import index_cornell, read_cornell_grasps
from mtg_grasp_ros.grasp import Grasp, angle_difference
from mtg_grasp_ros.labels import labelme, labelstudio
from mtg_grasp_ros.labels.records import LabelledImage
from mtg_grasp_ros.labels.rectangles import (
    LabelError,
    from_points,
    label_studio_corners,
    to_label_studio,
)

IMAGES = Path(__file__).parent / "data" / "label_images"
BAG = Path(__file__).resolve().parents[1] / "bags" / "sample_table"


def random_grasps(n: int, seed: int = 0) -> list[Grasp]:
    rng = np.random.default_rng(seed)
    return [Grasp(float(rng.uniform(50, 400)), float(rng.uniform(50, 300)),
                  float(rng.uniform(-math.pi / 2, math.pi / 2)), float(rng.uniform(10, 90)),
                  float(rng.uniform(5, 40))) for _ in range(n)]


def same(a: Grasp, b: Grasp, tol: float = 1e-6) -> bool:
    return (abs(a.x - b.x) < tol and abs(a.y - b.y) < tol and abs(a.width - b.width) < tol
            and abs(a.jaw - b.jaw) < tol and angle_difference(a.angle, b.angle) < tol)


def test_label_studio_value_gives_back_the_grasp_on_a_non_square_image() -> None:
    # 480x360: x and width are % of the width, y and height % of the height
    for g in random_grasps(50):
        value = to_label_studio(g, 480, 360)
        back = Grasp.from_corners(label_studio_corners(value, 480, 360))
        assert same(back, g), (g, back)
        assert 0.0 <= value["rotation"] < 360.0


def test_label_studio_rotation_is_clockwise_about_the_first_corner() -> None:
    # width 10% of 400 px = 40 px along x turned 90 deg clockwise on screen (y down): the
    # opening runs straight down from the corner (40, 30)
    corners = label_studio_corners({"x": 10, "y": 10, "width": 10, "height": 5,
                                    "rotation": 90}, 400, 300)
    np.testing.assert_allclose(corners, [[40, 30], [40, 70], [25, 70], [25, 30]], atol=1e-9)
    g = Grasp.from_corners(corners)
    assert g.width == pytest.approx(40) and g.jaw == pytest.approx(15)
    assert abs(abs(g.angle) - math.pi / 2) < 1e-9


def test_four_points_that_are_no_rectangle_are_refused() -> None:
    with pytest.raises(LabelError, match="right angle"):
        from_points(np.array([[0, 0], [10, 0], [14, 10], [4, 10]], dtype=float))
    with pytest.raises(LabelError, match="not 4"):
        from_points(np.array([[0, 0], [10, 0], [10, 10]], dtype=float))
    # a hand-clicked near-rectangle is accepted, read opening edge first
    g = from_points(np.array([[0, 0], [40, 1], [39.5, 11], [0.5, 10]], dtype=float))
    assert g.width == pytest.approx(40, abs=0.1) and g.jaw == pytest.approx(10, abs=0.2)


def test_labelme_document_reads_back(tmp_path: Path) -> None:
    shutil.copy(IMAGES / "synthetic_a.png", tmp_path)
    item = LabelledImage(tmp_path / "synthetic_a.png", 480, 360, random_grasps(4, seed=1))
    labelme.write_labelme(item, tmp_path)
    back = labelme.read_labelme_file(tmp_path / "synthetic_a.json")
    assert back.image == item.image and (back.width, back.height) == (480, 360)
    assert all(same(a, b, 1e-2) for a, b in zip(item.grasps, back.grasps, strict=True))


def cpos_grasps(dataset: Path) -> dict[str, list[Grasp]]:
    names = dict(line.split() for line in (dataset / "sources.txt").read_text().splitlines())
    return {names[p.name[:7]]: read_cornell_grasps(p)[0]
            for p in sorted(dataset.glob("pcd*cpos.txt"))}


@pytest.mark.parametrize("fmt", ["labelme", "label-studio"])
def test_suggest_then_import_gives_back_the_same_rectangles(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "pre"
    assert main(["label", "suggest", "--images", str(IMAGES), "--format", fmt, "--out",
                 str(out), "--top-k", "3", "--device", "cpu"]) == 0
    if fmt == "labelme":
        files = sorted((out / "images").glob("*.json"))
        suggested = {f.stem + ".png": labelme.read_labelme_file(f).grasps for f in files}
        export = out / "images"
    else:
        # a Label Studio export of the pre-labels accepted unchanged: each task's prediction
        # submitted as its annotation, as the tool does on "Submit"
        tasks = json.loads((out / "tasks.json").read_text())
        for n, task in enumerate(tasks):
            task.update(id=n + 1, annotations=[{"id": n + 1, "result":
                                                task["predictions"][0]["result"]}])
        export = tmp_path / "export.json"
        export.write_text(json.dumps(tasks))
        suggested = {labelstudio.image_name(t["data"]["image"]):
                     [Grasp.from_corners(label_studio_corners(r["value"], 480, 360))
                      for r in t["predictions"][0]["result"]] for t in tasks}
    assert sorted(suggested) == ["synthetic_a.png", "synthetic_b.png"]
    assert all(len(g) == 3 for g in suggested.values())
    dataset = tmp_path / "dataset"
    extra = ["--images", str(out / "images")] if fmt == "label-studio" else []
    assert main(["label", "import", "--format", fmt, str(export), "--out", str(dataset),
                 *extra]) == 0
    imported = cpos_grasps(dataset)
    assert sorted(imported) == sorted(suggested)
    for name, grasps in suggested.items():
        assert all(same(a, b, 2e-3) for a, b in zip(grasps, imported[name], strict=True))
    index = index_cornell(dataset)         # the trainer's own loader reads it
    assert len(index.records) == 2 and index.records[0].rgb.name == "pcd1000r.png"


def test_suggest_on_a_bag_writes_every_nth_frame(tmp_path: Path) -> None:
    pytest.importorskip("sensor_msgs.msg")
    out = tmp_path / "pre"
    assert main(["label", "suggest", "--images", str(BAG), "--format", "label-studio",
                 "--out", str(out), "--every", "5", "--top-k", "2", "--device", "cpu"]) == 0
    frames = sorted((out / "images").glob("*.png"))
    tasks = json.loads((out / "tasks.json").read_text())
    assert frames and len(tasks) == len(frames)
    indices = [int(f.stem.rsplit("_", 1)[1]) for f in frames]
    assert indices == list(range(0, 5 * len(frames), 5))
    assert all(len(t["predictions"][0]["result"]) == 2 for t in tasks)


def test_bad_suggest_arguments_exit_2_and_write_nothing(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["label", "suggest", "--images", str(empty), "--format", "labelme", "--out",
                 str(tmp_path / "pre")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --images") and "\n" not in err
    assert not (tmp_path / "pre").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]


def test_a_polygon_that_is_no_rectangle_names_file_and_shape(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture
                                                            ) -> None:
    shutil.copy(IMAGES / "synthetic_a.png", tmp_path)
    item = LabelledImage(tmp_path / "synthetic_a.png", 480, 360, random_grasps(2))
    doc = labelme.to_labelme(item)
    doc["shapes"][1]["points"] = [[10, 10], [60, 12], [80, 50], [5, 40]]
    (tmp_path / "synthetic_a.json").write_text(json.dumps(doc))
    out = tmp_path / "dataset"
    assert main(["label", "import", "--format", "labelme", str(tmp_path), "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "synthetic_a.json: shape 2 (polygon 'grasp')" in err and "not a rectangle" in err
    assert "\n" not in err and not out.exists()
    assert not any(p.name.startswith(".dataset") for p in tmp_path.iterdir())


def test_cornell_first_edge_is_the_opening(cornell_samples: Path) -> None:
    """The Cornell files read opening edge first: on the sticks of chalk (pcd1004-1012) the
    first edge crosses the stick, the second runs along it.
    """
    import cv2

    crossing = []
    for n in range(1004, 1013):
        rgb = cv2.imread(str(cornell_samples / "10" / f"pcd{n}r.png"))
        grasps, _ = read_cornell_grasps(cornell_samples / "10" / f"pcd{n}cpos.txt")
        cx, cy = np.mean([[g.x, g.y] for g in grasps], axis=0)
        patch = rgb[int(cy) - 40:int(cy) + 40, int(cx) - 40:int(cx) + 40].astype(float)
        # the chalk is coloured, the board grey-white: saturation picks it out
        sat = patch.max(axis=2) - patch.min(axis=2)
        ys, xs = np.nonzero(sat > sat.mean() + 2 * sat.std())
        axis = np.linalg.eigh(np.cov(np.stack([xs, ys])))[1][:, -1]
        stick = math.atan2(axis[1], axis[0])
        crossing += [angle_difference(g.angle, stick) > math.radians(60) for g in grasps]
    assert len(crossing) > 20 and np.mean(crossing) > 0.9
