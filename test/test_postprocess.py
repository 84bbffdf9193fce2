"""Smoothing and peak picking: planted peaks, the angle wrap, top-k and thresholds."""

import math

import numpy as np
import pytest
import torch

from mtg_grasp_ros.postprocess import (
    PostprocessConfig,
    find_grasps,
    gaussian_blur,
    peak_table,
    smooth_maps,
)


def planted(peaks, size=300, background_angle=0.0):
    """Maps with Gaussian Q bumps at (x, y, angle, width_px, height)."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    q = torch.zeros(size, size)
    cos = torch.full((size, size), math.cos(2 * background_angle))
    sin = torch.full((size, size), math.sin(2 * background_angle))
    width = torch.zeros(size, size)
    for x, y, a, w, h in peaks:
        bump = h * torch.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 8.0 ** 2))
        q = torch.maximum(q, bump)
        near = ((xx - x) ** 2 + (yy - y) ** 2) < 30 ** 2
        cos[near], sin[near] = math.cos(2 * a), math.sin(2 * a)
        width[near] = w / 150.0
    v = lambda t: t.view(1, 1, size, size)  # noqa: E731
    return {"q": v(q), "cos": v(cos), "sin": v(sin), "width": v(width)}


def test_finds_a_planted_peak_and_reads_angle_and_width():
    (g,) = find_grasps(planted([(120, 200, math.radians(30), 45, 0.9)]))[0]
    assert (g.x, g.y) == (120, 200)
    assert math.degrees(g.angle) == pytest.approx(30, abs=0.5)
    assert g.width == pytest.approx(45, rel=0.02)
    assert g.jaw == pytest.approx(g.width / 2)
    # A sigma-8 bump smoothed with sigma 5 keeps 8^2 / (8^2 + 5^2) of its height.
    assert g.quality == pytest.approx(0.9 * 64 / 89, rel=0.01)


def test_smoothing_across_the_angle_wrap():
    # Left half at +88 deg, right half at -88 deg: the same physical grasp direction.
    maps = planted([(150, 150, 0.0, 30, 1.0)])
    a1, a2 = math.radians(88), math.radians(-88)
    maps["cos"][..., :150] = math.cos(2 * a1)
    maps["sin"][..., :150] = math.sin(2 * a1)
    maps["cos"][..., 150:] = math.cos(2 * a2)
    maps["sin"][..., 150:] = math.sin(2 * a2)
    (g,) = find_grasps(maps)[0]
    # Averaging wrapped angles would give about 0 deg; the right answer is 90 deg.
    assert abs(abs(math.degrees(g.angle)) - 90) < 2.5


def test_top_k_peaks_distance_and_threshold():
    maps = planted([(50, 50, 0.0, 20, 1.0), (60, 50, 0.0, 20, 0.95), (200, 220, 0.5, 40, 0.7),
                    (250, 80, -0.5, 30, 0.2)])
    cfg = PostprocessConfig(top_k=5, min_distance=20, min_quality=0.3)
    grasps = find_grasps(maps, cfg)[0]
    # (60, 50) is within 20 px of the stronger (50, 50) peak, (250, 80) is below 0.3.
    assert len(grasps) == 2
    assert 48 <= grasps[0].x <= 62 and grasps[0].y == 50
    assert (grasps[1].x, grasps[1].y) == (200, 220)
    assert grasps[0].quality >= grasps[1].quality
    assert math.degrees(grasps[1].angle) == pytest.approx(math.degrees(0.5), abs=1)


def test_peak_values_equal_full_smoothing():
    torch.manual_seed(0)
    maps = {k: torch.randn(2, 1, 120, 100) for k in ("q", "cos", "sin", "width")}
    cfg = PostprocessConfig(top_k=4, sigma_q=2, sigma_angle=3, sigma_width=1.5)
    table, full = peak_table(maps, cfg), smooth_maps(maps, cfg)
    for b in range(2):
        for q, x, y, a, w in table[b].tolist():
            x, y = int(x), int(y)
            assert full["q"][b, y, x].item() == pytest.approx(q, abs=1e-5)
            assert full["angle"][b, y, x].item() == pytest.approx(a, abs=1e-4)
            assert full["width"][b, y, x].item() == pytest.approx(w, abs=1e-3)


def test_blur_is_a_normalised_gaussian_with_sigma_zero_as_identity():
    x = torch.zeros(1, 2, 61, 61)
    x[0, :, 30, 30] = 1.0
    out = gaussian_blur(x, [0.0, 5.0])
    assert torch.equal(out[0, 0], x[0, 0])
    assert out[0, 1].sum().item() == pytest.approx(1.0, abs=1e-5)
    profile = out[0, 1, 30].numpy()
    xs = np.arange(61) - 30
    assert math.sqrt((profile / profile.sum() * xs ** 2).sum()) == pytest.approx(5.0, rel=0.02)


def test_config_validation():
    with pytest.raises(ValueError, match="sigma_q"):
        PostprocessConfig(sigma_q=-1)
    with pytest.raises(ValueError, match="top_k"):
        PostprocessConfig(top_k=0)


def test_max_filter_equals_square_max_pooling():
    import torch.nn.functional as F

    from mtg_grasp_ros.postprocess import max_filter

    x = torch.randn(2, 3, 37, 41)
    for d in (1, 4, 10):
        expected = F.max_pool2d(x, 2 * d + 1, stride=1, padding=d)
        assert torch.equal(max_filter(x, d), expected)
        sep = F.max_pool2d(F.max_pool2d(x, (1, 2 * d + 1), stride=1, padding=(0, d)),
                           (2 * d + 1, 1), stride=1, padding=(d, 0))   # the GPU path's maths
        assert torch.equal(sep, expected)


@pytest.mark.parametrize("top_k,min_distance", [(1, 10), (5, 10), (5, 0), (300, 40)])
def test_torch_path_equals_the_opencv_path(top_k, min_distance):
    """The GPU's arithmetic (torch convolutions, pooling, gathered windows), run on the CPU,
    gives the CPU path's (OpenCV, numpy) peaks, smoothed values and full maps.
    """
    torch.manual_seed(1)
    maps = {k: torch.randn(2, 1, 90, 110) for k in ("q", "cos", "sin", "width")}
    maps["q"] = maps["q"].abs()
    cfg = PostprocessConfig(top_k=top_k, min_distance=min_distance, min_quality=0.05,
                            sigma_q=3, sigma_angle=2, sigma_width=4)
    fast, ref = peak_table(maps, cfg, "opencv"), peak_table(maps, cfg, "torch")
    assert fast.shape == ref.shape == (2, min(top_k, 90 * 110), 5)
    assert torch.equal(torch.isnan(fast), torch.isnan(ref))
    assert torch.allclose(fast.nan_to_num(), ref.nan_to_num(), atol=1e-4)
    if top_k == 300:     # fewer local maxima than k: the rest are NaN rows in both
        assert torch.isnan(fast[:, -1]).all()
    a, b = smooth_maps(maps, cfg, "opencv"), smooth_maps(maps, cfg, "torch")
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-4), key


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match="backend"):
        gaussian_blur(torch.zeros(1, 1, 8, 8), [1.0], "cuda")


@pytest.mark.parametrize("sigma", [0.0, 3.0, 5.0])     # noise (the full dilation), smooth maps
def test_peak_candidates_are_the_largest_local_maxima(sigma):
    """The 3x3-maxima shortcut finds the same k largest local maxima as comparing the map
    with its full (2d+1)^2 maximum filter, ties broken by index, fewer when there are fewer.
    """
    from mtg_grasp_ros.postprocess import _MAX_CANDIDATES, _peak_candidates, max_filter

    rng = np.random.default_rng(7)
    for _ in range(5):
        q = torch.from_numpy(rng.random((1, 1, 120, 150), dtype=np.float32))
        if sigma:
            q = gaussian_blur(q, [sigma])
        arr = q.numpy()[0, 0]
        n3 = int((arr == max_filter(q, 1).numpy()[0, 0]).sum())
        assert (n3 > _MAX_CANDIDATES) == (sigma == 0.0)     # both ways are exercised
        for d, k in ((1, 5), (4, 3), (10, 5), (10, 400)):
            full = np.flatnonzero(arr.ravel() == max_filter(q, d).numpy().ravel())
            ranked = full[np.lexsort((full, -arr.ravel()[full]))][:k]
            got = _peak_candidates(arr, d, k)
            assert np.all(np.diff(got) > 0)
            top = got[np.lexsort((got, -arr.ravel()[got]))][:k]
            assert np.array_equal(top, ranked)
