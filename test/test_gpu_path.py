"""The detector's device path: the preallocated input buffer, precision, the GPU's postprocess.

The CPU tests run everywhere and cover what the GPU path shares with the CPU (the buffer,
channels_last, the torch postprocess maths, fp32 maps out of any precision); the ``cuda``
tests run only where CUDA is available (``scripts/gpu_check.sh``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtg_grasp_ros import precision as prec
from mtg_grasp_ros.detector import GraspDetector
from mtg_grasp_ros.model import build_model
from mtg_grasp_ros.postprocess import PostprocessConfig, peak_table
from mtg_grasp_ros.preprocess import ImageError, View, prepare, warp

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("ggcnn2", None).eval()


def _image(h: int = 480, w: int = 640) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_buffer_path_gives_the_pixels_of_prepare_and_no_new_buffer_per_frame():
    det = GraspDetector(_net(), "cpu", precision="fp32")
    rgb = _image()
    x, view = det.prepare(rgb)
    ref, ref_view = prepare(rgb, det.input_size)
    assert view == ref_view and torch.equal(x, ref)
    buffer = det._host.data_ptr()
    det.prepare(_image(300, 500))
    assert det._host.data_ptr() == buffer and not det._host.is_pinned()


def test_warp_into_a_buffer_refuses_one_that_does_not_fit():
    rgb = _image()
    view = View.centre_crop(rgb.shape, 300)
    out = np.empty((300, 300, 3), np.uint8)
    assert warp(rgb, view, out=out) is out or np.array_equal(warp(rgb, view), out)
    with pytest.raises(ImageError, match="does not fit"):
        warp(rgb, view, out=np.empty((300, 300), np.uint8))


def test_detector_runs_channels_last_and_returns_fp32_maps():
    det = GraspDetector(_net(), "cpu", precision="fp32")
    conv = next(m for m in det.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    maps = det.model(torch.zeros(1, 3, 300, 300))
    assert all(v.dtype == torch.float32 for v in maps.values())
    assert det.precision == "fp32"


def test_bf16_on_the_cpu_gives_fp32_maps_close_to_fp32():
    """bf16 autocast (asked for; auto picks it only on CPUs with native bf16) still hands
    fp32 maps to the postprocess, and the bundled model's smoothed Q moves by little.
    """
    from mtg_grasp_ros.resources import default_model_path

    rgb = _image()
    a = GraspDetector(default_model_path(), "cpu", precision="fp32").detect(
        rgb, with_quality_map=True)
    b = GraspDetector(default_model_path(), "cpu", precision="bf16").detect(
        rgb, with_quality_map=True)
    assert a.quality_map is not None and b.quality_map is not None
    assert b.quality_map.dtype == np.float32
    assert np.abs(a.quality_map - b.quality_map).max() < 0.05


def test_auto_precision_follows_the_cpu_flags():
    det = GraspDetector(_net(), "cpu", precision="auto")
    assert det.dtype == prec.resolve("auto", "cpu")
    with pytest.raises(prec.PrecisionError, match="fp16 on a CPU"):
        GraspDetector(_net(), "cpu", precision="fp16")


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16", "auto"])
def test_cuda_detector_matches_the_cpu(precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    rgb = _image()
    cpu = GraspDetector(_net(), "cpu", PostprocessConfig(top_k=5), precision="fp32")
    gpu = GraspDetector(_net(), "cuda", PostprocessConfig(top_k=5), precision=precision)
    assert gpu._host.is_pinned()
    a, b = cpu.detect(rgb), gpu.detect(rgb)
    tol = 0.5 if precision == "fp32" else 4.0
    assert a.best is not None and b.best is not None
    assert abs(a.best.x - b.best.x) <= tol and abs(a.best.y - b.best.y) <= tol


@pytest.mark.cuda
@cuda
def test_cuda_postprocess_equals_the_cpu_one():
    torch.manual_seed(2)
    maps = {k: torch.rand(2, 1, 300, 300) for k in ("q", "cos", "sin", "width")}
    cfg = PostprocessConfig(top_k=5, min_distance=10)
    cpu = peak_table(maps, cfg)
    gpu = peak_table({k: v.cuda() for k, v in maps.items()}, cfg)
    assert gpu.device.type == "cuda"
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-4, equal_nan=True)
