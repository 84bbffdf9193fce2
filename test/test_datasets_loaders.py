"""Jacquard loader on the real samples; Cornell loader on files written here in its format."""

from __future__ import annotations

import math
import shutil

import cv2
import numpy as np
import pytest
import torch

from mtg_grasp_ros.datasets import DatasetError, detect_format, index_cornell, open_dataset
from mtg_grasp_ros.datasets.cornell import read_cornell_grasps
from mtg_grasp_ros.datasets.images import normalised_depth, read_depth, read_mask, read_source
from mtg_grasp_ros.grasp import Grasp, GraspFileError

#: Lines per grasps.txt of the five real scenes (counted with `wc -l`).
COUNTS = {"1a9fa4c269cfcc1b738e43095496b061": 127, "1d7830c5d0322518d95aa859a460a9ec": 50,
          "2206259551e94d263321831d2245cf06": 166, "244cc8707720b66bac7e7b41e1ebe3e4": 130,
          "2f486fc43af412df22ebff72a57eff4": 44}


def test_jacquard_index_reads_every_grasp_of_the_real_samples(jacquard_samples):
    index = open_dataset(jacquard_samples, need=("rgb", "depth", "mask"))
    assert index.format == "jacquard" and not index.skipped
    assert {r.object_id: len(r.grasps) for r in index.records} == COUNTS
    for r in index.records:
        raw = r.rgb.with_name(r.rgb.name.replace("_RGB.png", "_grasps.txt")).read_bytes()
        assert raw.count(b"\r\n") == len(r.grasps)  # CRLF files, one grasp per line
        assert r.depth.name.endswith("_perfect_depth.tiff") and r.mask.name.endswith("_mask.png")


def test_jacquard_known_rectangle_corners(jacquard_samples):
    rec = open_dataset(jacquard_samples).by_id()[
        "1a9fa4c269cfcc1b738e43095496b061/0_1a9fa4c269cfcc1b738e43095496b061"]
    g = rec.grasp_list()[0]   # 470.14815;253.89551;68.2615;25.5;25.6211
    t = math.radians(68.2615)
    u, n = np.array([math.cos(t), math.sin(t)]), np.array([-math.sin(t), math.cos(t)])
    c = np.array([470.14815, 253.89551])
    expected = [c - 12.75 * u - 12.81055 * n, c + 12.75 * u - 12.81055 * n,
                c + 12.75 * u + 12.81055 * n, c - 12.75 * u + 12.81055 * n]
    np.testing.assert_allclose(g.corners(), expected, atol=1e-6)
    # By hand: x = 470.14815 - 12.75 cos t + 12.81055 sin t,
    #          y = 253.89551 - 12.75 sin t - 12.81055 cos t
    np.testing.assert_allclose(g.corners()[0], [477.325, 237.308], atol=1e-3)


def test_jacquard_lzw_depth_and_stereo_holes(jacquard_samples):
    rec = open_dataset(jacquard_samples).records[0]
    depth = read_depth(rec.depth)
    assert depth.shape == (1024, 1024) and depth.dtype == np.float32
    assert 1.25 < depth.min() < depth.max() < 1.9
    stereo = read_depth(rec.depth.with_name(rec.depth.name.replace("perfect", "stereo")))
    assert int((stereo == -1).sum()) == 8650          # invalid pixels marked -1
    target = normalised_depth(stereo)
    assert target.min() == 0.0 and target.max() == 1.0 and (target[stereo == -1] == 1.0).all()
    mask = read_mask(rec.mask)
    assert set(np.unique(mask)) == {0, 1}
    rgb, aux = read_source(rec, "depth")
    assert rgb.shape == (1024, 1024, 3) and aux.shape == (1024, 1024)


def _copy_scene(src, dst):
    shutil.copytree(src, dst / src.name)
    return dst / src.name


def test_jacquard_bad_line_names_file_and_line_or_is_skipped(jacquard_samples, tmp_path):
    scene = _copy_scene(next(p for p in jacquard_samples.iterdir() if p.is_dir()), tmp_path)
    _copy_scene(sorted(p for p in jacquard_samples.iterdir() if p.is_dir())[1], tmp_path)
    grasps = next(scene.glob("*_grasps.txt"))
    lines = grasps.read_bytes().split(b"\r\n")
    lines[2] = b"470.1;253.8;68.2;oops;25.6"
    grasps.write_bytes(b"\r\n".join(lines))
    with pytest.raises(DatasetError, match=rf"{grasps.name}:3: opening is not a number"):
        open_dataset(tmp_path)
    index = open_dataset(tmp_path, skip_bad=True)
    assert len(index.records) == 1 and len(index.skipped) == 1 and ":3:" in index.skipped[0]


def test_jacquard_missing_companion_is_named(jacquard_samples, tmp_path):
    scene = _copy_scene(next(p for p in jacquard_samples.iterdir() if p.is_dir()), tmp_path)
    depth = next(scene.glob("*_perfect_depth.tiff"))
    depth.unlink()
    assert len(open_dataset(tmp_path).records) == 1    # depth not needed without aux
    with pytest.raises(DatasetError, match=f"{depth.name}: missing depth"):
        open_dataset(tmp_path, need=("rgb", "depth"))


def test_unreadable_image_is_named(jacquard_samples, tmp_path):
    scene = _copy_scene(next(p for p in jacquard_samples.iterdir() if p.is_dir()), tmp_path)
    rgb = next(scene.glob("*_RGB.png"))
    rgb.write_bytes(rgb.read_bytes()[:100])   # truncated PNG
    rec = open_dataset(tmp_path).records[0]
    with pytest.raises(DatasetError, match=f"{rgb.name}: unreadable image"):
        read_source(rec, None)


# --- Cornell ---------------------------------------------------------------------------------

def _write_cornell(root, num, rects, extra_lines=(), image=True):
    root.mkdir(parents=True, exist_ok=True)
    lines = [f"{x:.6g} {y:.6g}" for r in rects for x, y in r] + list(extra_lines)
    (root / f"pcd{num}cpos.txt").write_text("\n".join(lines) + "\n")
    if image:
        cv2.imwrite(str(root / f"pcd{num}r.png"), np.full((480, 640, 3), 128, np.uint8))


def test_cornell_generated_files_with_a_nan_row(tmp_path):
    g1 = Grasp(300.0, 200.0, math.radians(30.0), 60.0, 20.0)
    g2 = Grasp(350.5, 250.25, math.radians(-80.0), 40.0, 15.0)
    _write_cornell(tmp_path / "01", "0100", [g1.corners(), g2.corners()],
                   extra_lines=["NaN NaN", "310 210", "320 220", "300 230"])
    _write_cornell(tmp_path / "01", "0101", [g2.corners()])
    assert detect_format(tmp_path) == "cornell"
    index = index_cornell(tmp_path)
    assert [r.id for r in index.records] == ["01/pcd0100", "01/pcd0101"]
    assert index.dropped_rows == 1 and "1 annotation rows dropped" in index.summary()
    got = index.records[0].grasp_list()
    assert len(got) == 2
    for a, b in zip(got, [g1, g2], strict=True):
        np.testing.assert_allclose(a.corners(), b.corners(), atol=1e-3)
        assert a.angle == pytest.approx(b.angle, abs=1e-5)


def test_cornell_bom_loads_and_bad_bytes_or_long_lines_are_named(tmp_path):
    g = Grasp(300.0, 200.0, 0.3, 60.0, 20.0)
    _write_cornell(tmp_path, "0105", [g.corners()])
    path = tmp_path / "pcd0105cpos.txt"
    text = path.read_bytes()
    path.write_bytes(b"\xef\xbb\xbf" + text)
    grasps, dropped = read_cornell_grasps(path)
    assert dropped == 0 and len(grasps) == 1
    np.testing.assert_allclose(grasps[0].corners(), g.corners(), atol=1e-3)
    lines = text.split(b"\n")
    path.write_bytes(b"\n".join(lines[:2] + [b"310 \xb2200"] + lines[3:]))
    with pytest.raises(GraspFileError, match=r"pcd0105cpos.txt:3: non-ASCII byte 0xb2 at column 5"):
        read_cornell_grasps(path)
    with pytest.raises(DatasetError, match=r"pcd0105cpos.txt:3: non-ASCII"):
        index_cornell(tmp_path)
    path.write_bytes(b"\n".join(lines[:1] + [b"1 " * 1_000_000] + lines[2:]))
    with pytest.raises(GraspFileError, match=r"pcd0105cpos.txt:2: expected 'x y'") as err:
        read_cornell_grasps(path)
    assert len(str(err.value)) < 400 and "(1999999 characters)" in str(err.value)


def test_cornell_malformed_line_names_file_and_line(tmp_path):
    g = Grasp(300.0, 200.0, 0.3, 60.0, 20.0)
    _write_cornell(tmp_path, "0102", [g.corners(), g.corners()])
    path = tmp_path / "pcd0102cpos.txt"
    lines = path.read_text().splitlines()
    lines[5] = "310,5 200"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(GraspFileError, match=r"pcd0102cpos.txt:6: expected 'x y'"):
        read_cornell_grasps(path)
    path.write_text("\n".join(lines[:4] + lines[6:7]) + "\n")
    with pytest.raises(GraspFileError, match=r"pcd0102cpos.txt:5: 5 corner lines"):
        read_cornell_grasps(path)
    _write_cornell(tmp_path, "0103", [g.corners()], image=False)   # image missing
    _write_cornell(tmp_path, "0104", [g.corners()])
    index = index_cornell(tmp_path, skip_bad=True)
    assert [r.id for r in index.records] == ["pcd0104"] and len(index.skipped) == 2
    assert any("pcd0103r.png: missing image" in s for s in index.skipped)
    with pytest.raises(DatasetError, match="pcd0102cpos.txt:5"):
        index_cornell(tmp_path)


def test_unreadable_image_is_skipped_and_counted_when_asked(jacquard_samples, tmp_path):
    from mtg_grasp_ros.datasets.torch_dataset import GraspDataset, collate

    for scene in sorted(p for p in jacquard_samples.iterdir() if p.is_dir())[:2]:
        _copy_scene(scene, tmp_path)
    rgb = sorted(tmp_path.glob("*/*_RGB.png"))[0]
    rgb.write_bytes(b"not a png")
    records = open_dataset(tmp_path).records
    with pytest.raises(DatasetError, match="unreadable image"):
        GraspDataset(records, size=64)[0]
    ds = GraspDataset(records, size=64, skip_bad=True)
    batch = collate([ds[0], ds[1]])
    assert len(batch) == 1 and batch.index == [1] and batch.image.shape[0] == 1
    assert len(batch.skipped) == 1 and rgb.name in batch.skipped[0]
    assert len(collate([ds[0]])) == 0
    from mtg_grasp_ros.model import build_model
    from mtg_grasp_ros.training.evaluate import evaluate_records

    result = evaluate_records(build_model("ggcnn2", None, input_size=64).eval(), records,
                              torch.device("cpu"), workers=0, skip_bad=True)
    assert (result.total, result.skipped) == (1, 1)
