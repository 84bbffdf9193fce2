"""DistributedDataParallel when started by ``torchrun``; a plain single process otherwise.

torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; with more than one process the
process group is initialised from them (NCCL on GPUs, gloo on CPUs). Only rank 0 logs,
validates and writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..detector import select_device


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a (torchrun) process group, and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that writes files and logs."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1


def setup(device: str = "auto") -> DistInfo:
    """Join the torchrun process group if there is one, and pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(0, 1, select_device(device))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = select_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), dev)


def barrier(info: DistInfo) -> None:
    """Wait until every rank gets here (no-op with one process)."""
    if info.enabled:
        dist.barrier()


def broadcast_float(value: float, info: DistInfo) -> float:
    """Rank 0's value on every rank (e.g. the validation accuracy)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64,
                     device=info.device if info.device.type == "cuda" else "cpu")
    dist.broadcast(t, 0)
    return float(t.item())


def mean_over_ranks(values: dict[str, torch.Tensor], info: DistInfo) -> dict[str, torch.Tensor]:
    """Each scalar tensor averaged over all ranks (e.g. the epoch's summed losses)."""
    if not info.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.stack([values[k].detach().float() for k in keys])
    dist.all_reduce(t)
    return dict(zip(keys, t / info.world_size, strict=True))


def teardown(info: DistInfo) -> None:
    """Leave the process group, if one was joined."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
