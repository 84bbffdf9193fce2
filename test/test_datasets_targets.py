"""Ground-truth maps for known rectangles, and the augmentation round trip."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from mtg_grasp_ros.datasets import open_dataset
from mtg_grasp_ros.datasets.augment import AugmentConfig, random_view, rescaled_view
from mtg_grasp_ros.datasets.images import SourceCache
from mtg_grasp_ros.datasets.targets import drop_cut_objects, grasp_maps
from mtg_grasp_ros.datasets.torch_dataset import GraspDataset, collate
from mtg_grasp_ros.grasp import Grasp, write_jacquard_grasps
from mtg_grasp_ros.preprocess import View


def _on(maps):
    return {tuple(p) for p in np.argwhere(maps["q"] > 0)}  # (row, col)


def test_centre_third_of_an_axis_aligned_rectangle():
    # Opening 12 px along x: the centre third is |dx| <= 2; jaw 4 px: |dy| <= 2.
    maps = grasp_maps([Grasp(10.0, 8.0, 0.0, 12.0, 4.0)], 20)
    assert _on(maps) == {(r, c) for r in range(6, 11) for c in range(8, 13)}
    on = maps["q"] > 0
    assert (maps["cos"][on] == 1.0).all() and (maps["sin"][on] == 0.0).all()
    assert np.allclose(maps["width"][on], 12.0 / 150.0)
    assert not maps["cos"][~on].any() and not maps["width"][~on].any()


def test_centre_third_of_a_vertical_and_a_diagonal_rectangle():
    # Closing along y: opening 18 px -> |dy| <= 3; jaw 4 px across -> |dx| <= 2.
    maps = grasp_maps([Grasp(10.0, 8.0, -math.pi / 2, 18.0, 4.0)], 20)
    assert _on(maps) == {(r, c) for r in range(5, 12) for c in range(8, 13)}
    assert np.allclose(maps["cos"][maps["q"] > 0], -1.0)
    # 45 deg, a third of the opening = 2*sqrt(2), jaw = 2*sqrt(2): |dx+dy| <= 2 and |dy-dx| <= 2.
    maps = grasp_maps([Grasp(10.0, 10.0, math.pi / 4, 6 * math.sqrt(2), 2 * math.sqrt(2))], 20)
    expected = {(10 + dy, 10 + dx) for dx in range(-2, 3) for dy in range(-2, 3)
                if abs(dx + dy) <= 2 and abs(dy - dx) <= 2}
    assert len(expected) == 13 and _on(maps) == expected
    assert np.allclose(maps["sin"][maps["q"] > 0], 1.0, atol=1e-6)


def test_wide_openings_clip_to_one_and_rectangles_leaving_the_map_are_cut():
    maps = grasp_maps([Grasp(1.0, 1.0, 0.0, 400.0, 3.0)], 10)
    assert maps["width"].max() == 1.0
    assert _on(maps) == {(r, c) for r in range(0, 3) for c in range(0, 10)}


def _scene(tmp_path, grasp: Grasp, size=(1024, 1024)):
    """A Jacquard-format scene: a bright filled rectangle where the grasp is, and its mask."""
    d = tmp_path / "obj"
    d.mkdir()
    rgb = np.full((*size, 3), 40, np.uint8)
    cv2.fillPoly(rgb, [np.round(grasp.corners()).astype(np.int32)], (250, 250, 250))
    cv2.imwrite(str(d / "0_obj_RGB.png"), rgb)
    cv2.imwrite(str(d / "0_obj_mask.png"), (rgb[:, :, 0] > 128).astype(np.uint8) * 255)
    depth = np.where(rgb[:, :, 0] > 128, 1.4, 1.6).astype(np.float32)
    cv2.imwrite(str(d / "0_obj_perfect_depth.tiff"), depth)
    write_jacquard_grasps(d / "0_obj_grasps.txt", [grasp])
    return open_dataset(tmp_path, need=("rgb", "mask", "depth")).records


def test_augmentation_round_trip_image_targets_and_rectangles_agree(tmp_path):
    g = Grasp(600.0, 420.0, math.radians(25.0), 240.0, 90.0)
    records = _scene(tmp_path, g)
    cfg = AugmentConfig(zoom_min=0.6, zoom_max=0.9, rotation="free")
    for cache in (None, SourceCache(tmp_path / "cache", 600)):
        ds = GraspDataset(records, "saliency", 300, cfg, seed=3, cache=cache)
        for epoch in range(4):
            ds.set_epoch(epoch)
            s = ds[0]
            image, q = s["image"].numpy(), s["targets"]["q"][0].numpy()
            (n,) = [Grasp(*row) for row in s["grasps"]]
            # The View's rectangle, the drawn image and the target maps land together.
            bright = image[:, :, 0] > 145
            drawn = np.zeros((300, 300), np.uint8)
            cv2.fillPoly(drawn, [np.round(n.corners()).astype(np.int32)], 1)
            drawn = drawn.astype(bool)
            assert (bright & drawn).sum() / (bright | drawn).sum() > 0.95
            assert bright[q > 0].mean() > 0.97
            assert (s["targets"]["aux"][0].numpy() == bright).mean() > 0.98
            assert s["targets"]["width"][0].numpy()[q > 0] == pytest.approx(
                min(n.width / 150, 1.0), rel=1e-5)
            assert math.cos(2 * n.angle) == pytest.approx(float(s["targets"]["cos"][0][q > 0][0]),
                                                          abs=1e-6)
        ds.set_epoch(1)
        a, b = ds[0]["image"], ds[0]["image"]
        assert (a == b).all()   # the same (seed, epoch, index) gives the same crop


def test_unrotated_random_view_is_a_pixel_crop_and_rescaling_keeps_points():
    rng = np.random.default_rng(0)
    v = random_view(rng, (1024, 1024), AugmentConfig(), 300)
    assert v.crop_box() is not None and 512 <= v.side <= 1024
    r = rescaled_view(v, 600 / 1024)
    pts = np.array([[10.0, 20.0], [700.0, 900.0]])
    np.testing.assert_allclose(r.to_net((pts + 0.5) * 600 / 1024 - 0.5), v.to_net(pts),
                               atol=1e-9)


def test_eval_dataset_is_the_inference_centre_crop_and_collates_variable_grasps(jacquard_samples):
    records = open_dataset(jacquard_samples).records[:3]
    batch = collate([GraspDataset(records)[i] for i in range(3)])
    assert batch.image.shape == (3, 300, 300, 3) and batch.targets["q"].shape == (3, 1, 300, 300)
    assert [len(g) for g in batch.grasps] == [127, 50, 166]
    assert all(v == View.centre_crop((1024, 1024), 300) for v in batch.views)
    import cv2 as _cv2

    from mtg_grasp_ros.preprocess import normalise, prepare
    rgb = _cv2.cvtColor(_cv2.imread(str(records[0].rgb)), _cv2.COLOR_BGR2RGB)
    x, _ = prepare(rgb)
    assert (normalise(batch.image[:1]) == x).all()


def test_vectorised_grasps_in_view_equal_view_grasp_to_net(jacquard_samples):
    from mtg_grasp_ros.datasets.torch_dataset import grasps_in_view

    record = open_dataset(jacquard_samples).records[2]
    for view in (View(500, 400, 600, 0.7, 300), View(300.5, 700, 512, -2.9, 300)):
        expected = [n for n in (view.grasp_to_net(g) for g in record.grasp_list())
                    if -0.5 <= n.x < 299.5 and -0.5 <= n.y < 299.5]
        got = grasps_in_view(record, view)
        assert 0 < len(got) == len(expected) < len(record.grasps)
        for a, b in zip(got, expected, strict=True):
            assert np.allclose([a.x, a.y, a.angle, a.width, a.jaw],
                               [b.x, b.y, b.angle, b.width, b.jaw], atol=1e-9)


def test_grasps_on_objects_the_view_edge_cuts_are_dropped():
    mask = np.zeros((40, 40), np.uint8)
    mask[10:20, 10:20] = 1          # inside the view
    mask[25:35, 30:40] = 1          # cut by the right edge
    inner, cut, off = Grasp(15, 15, 0, 8, 4), Grasp(35, 30, 0, 8, 4), Grasp(5, 35, 0, 8, 4)
    assert drop_cut_objects([inner, cut, off], mask) == [inner, off]
    mask[19:26, 19:31] = 1          # joined to the cut one: one object, cut
    assert drop_cut_objects([inner, cut, off], mask) == [off]
    assert drop_cut_objects([inner], np.zeros((40, 40), np.uint8)) == [inner]


def test_dataset_drops_objects_cut_by_the_image_border_with_and_without_cache(tmp_path):
    d = tmp_path / "obj"
    d.mkdir()
    mask = np.zeros((400, 400), np.uint8)
    mask[150:250, 150:250] = 255    # a whole object
    mask[20:80, 330:400] = 255      # an object running out of the picture
    rgb = np.dstack([mask] * 3)
    cv2.imwrite(str(d / "0_obj_RGB.png"), rgb)
    cv2.imwrite(str(d / "0_obj_mask.png"), mask)
    cv2.imwrite(str(d / "0_obj_perfect_depth.tiff"), np.full((400, 400), 1.5, np.float32))
    whole, cut = Grasp(200.0, 200.0, 0.0, 60.0, 30.0), Grasp(370.0, 50.0, 0.0, 40.0, 20.0)
    write_jacquard_grasps(d / "0_obj_grasps.txt", [whole, cut])
    records = open_dataset(tmp_path, need=("rgb", "mask", "depth")).records
    view = View.centre_crop((400, 400), 300)
    kept = [view.grasp_to_net(g) for g in (whole, cut)]
    for cache in (None, SourceCache(tmp_path / "cache", 350)):
        keep = GraspDataset(records, "depth", cache=cache)[0]
        drop = GraspDataset(records, "depth", cache=cache, cut_objects="drop")[0]
        np.testing.assert_allclose(keep["grasps"][:, :2], [[g.x, g.y] for g in kept], atol=1e-6)
        np.testing.assert_allclose(drop["grasps"][:, :2], [[kept[0].x, kept[0].y]], atol=1e-6)
        q = drop["targets"]["q"][0].numpy()
        assert q[int(kept[0].y), int(kept[0].x)] == 1 and q[int(kept[1].y), int(kept[1].x)] == 0
        assert drop["targets"]["aux"].shape == (1, 300, 300)   # the depth target is unchanged
    with pytest.raises(ValueError, match="cut_objects"):
        GraspDataset(records, cut_objects="maybe")
