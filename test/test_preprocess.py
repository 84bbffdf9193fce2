"""Image to network input, and network pixels back to the image."""

import math
import warnings

import cv2
import numpy as np
import pytest
import torch

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.preprocess import ImageError, View, normalise, prepare, to_rgb, warp


@pytest.mark.parametrize("shape,roi", [((480, 640), None), ((960, 1280), None),
                                       ((1024, 1024), None), ((720, 1280), (100, 50, 600, 500))])
def test_pixel_round_trip_within_a_pixel(shape, roi):
    view = View.centre_crop(shape, 300, roi)
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 299, (50, 2))
    back = view.to_net(view.to_image(pts))
    np.testing.assert_allclose(back, pts, atol=1e-9)
    img_pts = view.to_image(pts)
    assert np.all(np.abs(view.to_net(np.round(img_pts)) - pts) <= view.scale)


def test_centre_crop_geometry():
    view = View.centre_crop((480, 640), 300)
    assert view.crop_box() == (80, 0, 480)
    # The crop's corner pixels map to the network's corner pixels (pixel-centre convention).
    np.testing.assert_allclose(view.to_net([[80 - 0.5, -0.5]]), [[-0.5, -0.5]])
    np.testing.assert_allclose(view.to_net([[559.5, 479.5]]), [[299.5, 299.5]])


def test_roi_must_lie_inside_the_image():
    with pytest.raises(ImageError, match="region of interest"):
        View.centre_crop((480, 640), 300, (600, 0, 100, 100))


def test_warp_matches_the_view_mapping():
    # A bright dot at a known image pixel lands where the View says it does.
    img = np.zeros((960, 1280, 3), np.uint8)
    img[395:406, 695:706] = 255
    view = View.centre_crop(img.shape, 300)
    out = warp(img, view)
    ys, xs = np.nonzero(out[:, :, 0] > 0)
    weights = out[ys, xs, 0]
    centre = np.array([np.average(xs, weights=weights), np.average(ys, weights=weights)])
    np.testing.assert_allclose(centre, view.to_net([[700, 400]])[0], atol=0.5)


def test_rotated_view_rotates_grasps_and_pixels_alike():
    view = View(cx=500, cy=400, side=600, rotation=math.radians(30), size=300)
    g = Grasp(520, 380, math.radians(10), 40, 20)
    gn = view.grasp_to_net(g)
    assert math.degrees(gn.angle) == pytest.approx(40)
    assert gn.width == pytest.approx(20) and gn.jaw == pytest.approx(10)
    np.testing.assert_allclose(view.to_net([[g.x, g.y]])[0], [gn.x, gn.y])
    back = view.grasp_to_image(gn)
    assert (back.x, back.y, back.width) == pytest.approx((g.x, g.y, g.width))
    img = np.zeros((800, 1000), np.uint8)
    img[375:386, 515:526] = 255
    out = warp(img, view)
    ys, xs = np.nonzero(out > 60)
    np.testing.assert_allclose([xs.mean(), ys.mean()], [gn.x, gn.y], atol=1.0)


def test_normalise_scales_and_centres_each_image():
    imgs = torch.from_numpy(np.stack([np.full((4, 4, 3), 255, np.uint8),
                                      np.arange(48, dtype=np.uint8).reshape(4, 4, 3)]))
    x = normalise(imgs)
    assert x.shape == (2, 3, 4, 4) and x.dtype == torch.float32
    assert torch.allclose(x.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-6)
    assert torch.allclose(x[0], torch.zeros(3, 4, 4))
    assert (x[1].max() - x[1].min()).item() == pytest.approx(47 / 255)


def test_prepare_any_size():
    x, view = prepare(np.zeros((123, 457, 3), np.uint8))
    assert x.shape == (1, 3, 300, 300) and view.side == 123


@pytest.mark.parametrize("enc,shape", [("rgb8", (8, 8, 3)), ("bgr8", (8, 8, 3)),
                                       ("rgba8", (8, 8, 4)),
                                       ("bgra8", (8, 8, 4)), ("mono8", (8, 8))])
def test_to_rgb_encodings(enc, shape):
    img = np.zeros(shape, np.uint8)
    img[..., 0] = 200
    rgb = to_rgb(img, enc)
    assert rgb.shape == (8, 8, 3)
    expected = {"rgb8": (200, 0, 0), "bgr8": (0, 0, 200), "rgba8": (200, 0, 0),
                "bgra8": (0, 0, 200), "mono8": (200, 200, 200)}[enc]
    assert tuple(rgb[0, 0]) == expected


def test_to_rgb_errors_name_encoding_and_shape():
    with pytest.raises(ImageError, match="unsupported encoding '16UC1'"):
        to_rgb(np.zeros((8, 8), np.uint16), "16UC1")
    with pytest.raises(ImageError, match=r"rgb8 image has shape \(8, 8, 4\)"):
        to_rgb(np.zeros((8, 8, 4), np.uint8), "rgb8")
    with pytest.raises(ImageError, match=r"shape \(0, 8, 3\)"):
        to_rgb(np.zeros((0, 8, 3), np.uint8), "rgb8")
    with pytest.raises(ImageError, match="must be uint8"):
        to_rgb(np.zeros((8, 8, 3), np.float32), "rgb8")


def test_shrinking_a_real_frame_is_close_to_area_averaging_and_fills_the_buffer(cornell_samples):
    path = sorted(cornell_samples.rglob("pcd*r.png"))[0]
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    view = View.centre_crop(rgb.shape, 300)
    area = cv2.resize(rgb[:, 80:560], (300, 300), interpolation=cv2.INTER_AREA)
    out = np.zeros((300, 300, 3), np.uint8)
    got = warp(rgb, view, out=out)
    assert got is out and (warp(rgb, view) == out).all()
    frozen = np.frombuffer(rgb.tobytes(), np.uint8).reshape(rgb.shape)   # a message's buffer
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # torch.from_numpy would warn: not writable
        assert (warp(frozen, view) == out).all()
    diff = np.abs(out.astype(np.int16) - area)
    assert diff.mean() < 0.5 and diff.max() < 40
    depth = rgb[:, :, 0].astype(np.float32) / 255       # float maps (the depth target) too
    np.testing.assert_allclose(warp(depth, view), area[:, :, 0] / 255, atol=0.2)
