"""mtg_grasp_ros.precision: which dtype for which hardware, and autocast contexts."""

from __future__ import annotations

import pytest
import torch

from mtg_grasp_ros import precision as prec

CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx2 {extra}\n\n"


@pytest.fixture
def cpuinfo(tmp_path):
    def make(extra: str) -> str:
        path = tmp_path / f"cpuinfo_{len(extra)}"
        path.write_text(CPUINFO.format(extra=extra))
        return str(path)
    return make


def test_native_bf16_read_from_the_flags(cpuinfo, monkeypatch):
    monkeypatch.delenv(prec.ASSUME_BF16_ENV, raising=False)
    assert prec.cpu_has_native_bf16(cpuinfo("avx512f avx512_bf16"))
    assert prec.cpu_has_native_bf16(cpuinfo("amx_tile amx_bf16"))
    assert not prec.cpu_has_native_bf16(cpuinfo("avx512f avx512bw"))
    assert not prec.cpu_has_native_bf16("/nonexistent/cpuinfo")


def test_auto_is_bf16_only_on_cpus_that_have_it(cpuinfo, monkeypatch):
    monkeypatch.delenv(prec.ASSUME_BF16_ENV, raising=False)
    assert prec.resolve("auto", "cpu", cpuinfo("avx512_bf16")) == torch.bfloat16
    assert prec.resolve("auto", "cpu", cpuinfo("avx2")) == torch.float32
    assert prec.resolve("fp32", "cpu", cpuinfo("avx512_bf16")) == torch.float32
    assert prec.resolve("bf16", "cpu", cpuinfo("avx2")) == torch.bfloat16   # asked for: given


def test_fp16_on_cpu_and_unknown_names_are_clear_errors():
    with pytest.raises(prec.PrecisionError, match="fp16 on a CPU"):
        prec.resolve("fp16", "cpu")
    with pytest.raises(prec.PrecisionError, match="expected one of"):
        prec.resolve("half", "cpu")


def test_autocast_runs_convolutions_in_bf16_and_fp32_is_untouched():
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.randn(1, 3, 8, 8)
    with prec.autocast("cpu", torch.bfloat16):
        assert conv(x).dtype == torch.bfloat16
    with prec.autocast("cpu", torch.float32):
        assert conv(x).dtype == torch.float32
    assert not prec.grad_scaler("cpu", torch.bfloat16).is_enabled()
    assert prec.name_of(torch.bfloat16) == "bf16"


@pytest.mark.parametrize("value, native", [("1", True), ("yes", True), ("0", False), ("", False)])
def test_the_switch_makes_auto_resolve_as_on_a_bf16_cpu(cpuinfo, monkeypatch, value, native):
    monkeypatch.setenv(prec.ASSUME_BF16_ENV, value)
    assert prec.cpu_has_native_bf16(cpuinfo("avx2")) is native
    assert prec.resolve("auto", "cpu", cpuinfo("avx2")) == (
        torch.bfloat16 if native else torch.float32)
    assert prec.resolve("fp32", "cpu", cpuinfo("avx2")) == torch.float32
