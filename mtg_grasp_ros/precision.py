"""Numeric precision of the network's arithmetic: fp32, or bf16/fp16 autocast where it pays.

Shared by training (``mtg_grasp train --precision``) and inference, so both make the same
choice for the same hardware. No ROS here.

* ``auto``: bf16 on a CPU with native bf16 instructions (``avx512_bf16`` or ``amx_bf16`` in
  /proc/cpuinfo; elsewhere bf16 is emulated and slower than fp32), on CUDA bf16 where the GPU
  supports it and fp16 otherwise; fp32 on anything else.
* ``fp32``: no autocast.
* ``bf16`` / ``fp16``: autocast to that type; fp16 on a CPU is refused (PyTorch's CPU fp16
  kernels are slow and its autocast list for CPU is made for bf16).

``MTG_GRASP_ASSUME_BF16_CPU=1`` in the environment makes ``auto`` resolve as on a CPU with
native bf16 (emulated, slowly, where the CPU lacks it), so that a machine without bf16
exercises the path that a bf16 machine takes by default (the test suite runs with it once).

Autocast only changes the type of the convolutions' arithmetic; weights, optimiser state and
losses stay fp32, and outputs are cast back with ``.float()`` by the callers that need it.
"""

from __future__ import annotations

import contextlib
import os
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path

import torch

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
#: /proc/cpuinfo flags that mean bf16 matrix arithmetic runs in hardware.
BF16_FLAGS: tuple[str, ...] = ("avx512_bf16", "amx_bf16")
#: Environment variable that makes ``auto`` behave as on a CPU with native bf16.
ASSUME_BF16_ENV = "MTG_GRASP_ASSUME_BF16_CPU"


class PrecisionError(ValueError):
    """A precision that cannot be used on a device; the message says why."""


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags of the first processor listed (empty when unreadable, e.g. not
    Linux).
    """
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cpu_has_native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """True when the CPU computes bf16 in hardware (avx512_bf16 or amx_bf16), or when
    ``MTG_GRASP_ASSUME_BF16_CPU`` asks to behave as if it did.
    """
    if os.environ.get(ASSUME_BF16_ENV, "") not in ("", "0"):
        return True
    return bool(cpu_flags(cpuinfo) & set(BF16_FLAGS))


def resolve(name: str, device: torch.device | str,
            cpuinfo: str | Path = "/proc/cpuinfo") -> torch.dtype:
    """The compute dtype for precision ``name`` on ``device`` (see the module docstring)."""
    if name not in PRECISIONS:
        raise PrecisionError(f"unknown precision {name!r}; expected one of {PRECISIONS}")
    device = torch.device(device)
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "cpu" and cpu_has_native_bf16(cpuinfo):
            return torch.bfloat16
        return torch.float32
    if name == "fp16" and device.type == "cpu":
        raise PrecisionError("fp16 on a CPU is not supported: use bf16 (fast on CPUs with "
                             "avx512_bf16/amx_bf16) or fp32")
    return _DTYPES[name]


def name_of(dtype: torch.dtype) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for a dtype returned by :func:`resolve`."""
    for name, d in _DTYPES.items():
        if d == dtype:
            return name
    raise PrecisionError(f"no precision name for {dtype}")


def autocast(device: torch.device | str, dtype: torch.dtype) -> ContextManager:
    """``torch.autocast`` for ``dtype`` on ``device``; a no-op context for fp32."""
    device = torch.device(device)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    if device.type not in ("cpu", "cuda"):
        raise PrecisionError(f"autocast to {name_of(dtype)} is only set up for cpu and cuda, "
                             f"not {device.type}")
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device | str, dtype: torch.dtype) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only for fp16 on CUDA (bf16 has fp32's range)."""
    device = torch.device(device)
    return torch.amp.GradScaler(device.type if device.type == "cuda" else "cpu",
                                enabled=device.type == "cuda" and dtype == torch.float16)
