"""Training checkpoints: everything needed to resume exactly, written atomically.

A checkpoint holds only tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)`` (no pickled code runs). It is written to a temporary file
and renamed over the old one, so an interruption never leaves a half-written checkpoint;
the temporary files a killed run left (``last.pt.<pid>.tmp``) are removed on the next save
or load.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_path, remove_stale_temps

FORMAT = "mtg_grasp_checkpoint/1"


class CheckpointError(ValueError):
    """A file that is not a usable training checkpoint; the message names it."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` atomically, first removing temporary files of killed writers."""
    remove_stale_temps(path)
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """A training checkpoint's contents; CheckpointError names the file and what is wrong."""
    path = Path(path)
    remove_stale_temps(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise CheckpointError(f"{path}: not a readable training checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an mtg_grasp training checkpoint "
                              f"(expected format {FORMAT!r})")
    return state


def require(state: dict[str, Any], path: str | Path, keys: tuple[str, ...]) -> None:
    """Refuse a checkpoint that lacks any of ``keys``, naming the file and what is missing."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint has no {', '.join(map(repr, missing))} "
                              f"entr{'y' if len(missing) == 1 else 'ies'} (has "
                              f"{sorted(map(str, state))}); was it written by "
                              f"'mtg_grasp train'?")


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch (and CUDA) random states in weights_only-safe types."""
    np_state = np.random.get_state()
    assert isinstance(np_state, tuple)      # legacy=True (the default): the MT19937 tuple
    state = {"python": list(random.getstate()[1]) + [random.getstate()[0]],
             "python_gauss": random.getstate()[2],
             "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                       int(np_state[2]), int(np_state[3]), float(np_state[4])],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the random states saved by :func:`rng_state`, so a resumed run draws the same."""
    py = state["python"]
    random.setstate((py[-1], tuple(py[:-1]), state["python_gauss"]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators, for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
