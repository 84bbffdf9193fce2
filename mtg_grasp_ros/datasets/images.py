"""Reading a record's pixels: the RGB image and the auxiliary target's source.

Errors name the file. The optional :class:`SourceCache` keeps decoded, downscaled copies as
``.npy`` files, so 1024 px PNG/TIFF decoding is paid once rather than every epoch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..atomic import atomic_path
from .records import DatasetError, Record


def read_rgb(path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB from a PNG/JPEG file."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"{path}: unreadable image (missing, truncated or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_depth(path: Path) -> np.ndarray:
    """HxW float32 depth in metres (Jacquard's LZW TIFFs read as they are)."""
    depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if depth is None or depth.ndim != 2:
        raise DatasetError(f"{path}: unreadable depth image (expected one float channel)")
    return depth.astype(np.float32, copy=False)


def read_mask(path: Path) -> np.ndarray:
    """HxW uint8 object mask as 0/1 (Jacquard's 0/255 PNG)."""
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise DatasetError(f"{path}: unreadable mask image")
    return (mask > 0).astype(np.uint8)


def normalised_depth(depth: np.ndarray, path: Path | str = "<depth>") -> np.ndarray:
    """The auxiliary depth target: depth scaled to [0, 1] over the image's valid pixels.

    Valid means finite and > 0 (stereo depth marks holes with -1); holes become 1 (far).
    """
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        raise DatasetError(f"{path}: no valid depth pixels")
    lo, hi = float(depth[valid].min()), float(depth[valid].max())
    out = (depth - lo) / max(hi - lo, 1e-6)
    out[~valid] = 1.0
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def read_aux(record: Record, aux: str | None) -> np.ndarray | None:
    """The auxiliary target at source resolution: normalised depth, the 0/1 mask, or None."""
    if aux is None:
        return None
    path = record.depth if aux == "depth" else record.mask
    if path is None:
        raise DatasetError(f"{record.rgb}: no {'perfect depth' if aux == 'depth' else 'mask'} "
                           f"file beside it, needed for the {aux} auxiliary task")
    if aux == "depth":
        return normalised_depth(read_depth(path), path)
    return read_mask(path).astype(np.float32)


def read_source(record: Record, aux: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB and auxiliary target of a record, checked to have the same size."""
    rgb = read_rgb(record.rgb)
    target = read_aux(record, aux)
    if target is not None and target.shape != rgb.shape[:2]:
        raise DatasetError(f"{record.depth if aux == 'depth' else record.mask}: size "
                           f"{target.shape[::-1]} differs from {record.rgb} "
                           f"{rgb.shape[1::-1]}")
    return rgb, target


class SourceCache:
    """Decoded sources downscaled so their short side is ``side`` px, one ``.npz`` per record.

    ``side`` should be at least input_size / zoom_min, so that the smallest crop still has
    one cached pixel per network pixel. Files are written atomically, so several
    DataLoader workers (or ranks) may fill the cache at once.
    """

    def __init__(self, directory: str | Path, side: int) -> None:
        self.directory = Path(directory)
        self.side = int(side)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, record: Record, aux: str | None) -> Path:
        key = hashlib.sha1(f"{record.rgb.resolve()}|{aux}|{self.side}".encode()).hexdigest()
        return self.directory / f"{key}.npz"

    def load(self, record: Record, aux: str | None) -> tuple[np.ndarray, np.ndarray | None, float]:
        """(rgb, aux, scale): cached pixels and the factor from source to cached pixels."""
        path = self._path(record, aux)
        if path.is_file():
            with np.load(path) as z:
                return z["rgb"], (z["aux"].astype(np.float32) if "aux" in z else None), \
                    float(z["scale"])
        rgb, target = read_source(record, aux)
        scale = min(1.0, self.side / min(rgb.shape[:2]))
        size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
        scale = size[0] / rgb.shape[1]
        if scale < 1.0:
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            if target is not None:
                target = cv2.resize(target, size, interpolation=cv2.INTER_NEAREST
                                    if aux == "saliency" else cv2.INTER_AREA)
        arrays: dict[str, Any] = {"rgb": rgb, "scale": np.float64(scale)}   # for np.savez
        if target is not None:
            arrays["aux"] = target.astype(np.float16)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:   # a file: savez adds no suffix
            np.savez(f, **arrays)
        return rgb, (None if target is None else arrays["aux"].astype(np.float32)), scale
