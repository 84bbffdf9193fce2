"""Carry a Jacquard-layout training set to a machine that takes little data (the GPU lease).

A lent GPU machine here receives at most 64 MiB with the repository, and mix4 (7,640
views) is 7.1 GB as written by ``mtg_grasp generate`` (lossless PNG, float TIFF depth,
stereo depth). ``pack`` keeps what training reads, smaller:

* RGB as WebP (quality 90): the training augmentation already adds JPEG artefacts, noise and
  blur (``datasets.augment.camera_effects``), so the loss of this step is below what the
  network is taught to ignore;
* perfect depth as the auxiliary target sees it (``images.normalised_depth``, 0-1 over the
  view's valid pixels) at half resolution, 8 bits (0 marks no depth): the auxiliary branch
  is trained only, and its target is normalised per image, so metres are not needed;
* the object mask (for ``data.cut_objects: drop``) and the grasp file as they are;
* the split file, restricted to the views packed.

``unpack`` writes the Jacquard layout back (``_RGB.png``, ``_perfect_depth.tiff`` holding the
normalised depth, ``_mask.png``, ``_grasps.txt``), so ``mtg_grasp train`` reads it unchanged.

    python tools/device_data.py pack /work/s5data/mix4 /work/s5data/mix4_split.json pack.tar.xz
    python tools/device_data.py unpack pack.tar.xz /tmp/mix4 --workers 14
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from mtg_grasp_ros.datasets import open_dataset
from mtg_grasp_ros.datasets.images import normalised_depth, read_depth
from mtg_grasp_ros.datasets.jacquard import SUFFIX
from mtg_grasp_ros.datasets.splits import load_split

KINDS = ("RGB.webp", "depth8.png", "mask.png", "grasps.txt")


def _encode(rgb: Path, depth: Path, mask: Path, grasps: Path) -> dict[str, bytes]:
    """The four packed files of one view."""
    image = cv2.imread(str(rgb), cv2.IMREAD_COLOR)
    mask_image = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
    if image is None or mask_image is None:
        raise ValueError(f"{rgb} or {mask}: unreadable")
    ok, webp = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 90])
    d = read_depth(depth)
    valid = np.isfinite(d) & (d > 0)
    q = np.where(valid, 1 + np.round(normalised_depth(d, depth) * 254), 0).astype(np.uint8)
    half = cv2.resize(q, (q.shape[1] // 2, q.shape[0] // 2), interpolation=cv2.INTER_NEAREST)
    ok2, d8 = cv2.imencode(".png", half, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    ok3, m = cv2.imencode(".png", mask_image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not (ok and ok2 and ok3):
        raise ValueError(f"{rgb}: could not encode")
    return {"RGB.webp": webp.tobytes(), "depth8.png": d8.tobytes(), "mask.png": m.tobytes(),
            "grasps.txt": grasps.read_bytes()}


def pack(data: Path, split_file: Path, out: Path, fold: int = 0,
         every: dict[str, int] | None = None) -> None:
    """Pack the views of ``fold``: its val and test parts whole, of its train part every n-th
    object folder under each top folder named in ``every`` (``{"world3": 2}``), all others.
    """
    index = open_dataset(data, "jacquard", need=("rgb", "depth", "mask"))
    by_id = index.by_id()
    f = load_split(split_file).fold(fold)
    folders = sorted({i.rsplit("/", 1)[0] for i in f.train})
    kept = set()
    for top in sorted({d.split("/", 1)[0] for d in folders}):
        mine = [d for d in folders if d.split("/", 1)[0] == top]
        kept |= set(mine[::(every or {}).get(top, 1)])
    train = [i for i in f.train if i.rsplit("/", 1)[0] in kept]
    ids = sorted(set(train) | set(f.val) | set(f.test))
    split = {"format": "mtg_grasp_split/1", "kind": "object", "k": 1, "seed": 0,
             "folds": [{"train": train, "val": f.val, "test": f.test}]}
    with tarfile.open(out, "w:xz", preset=6) as tar:
        def add(name: str, payload: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))

        add("split.json", json.dumps(split).encode())
        for n, i in enumerate(ids):
            r = by_id[i]
            assert r.depth is not None and r.mask is not None   # asked for by need=
            folder, stem = i.rsplit("/", 1)              # a Jacquard id: folder/stem
            files = _encode(r.rgb, r.depth, r.mask, r.rgb.parent / f"{stem}{SUFFIX}")
            for kind, payload in files.items():
                add(f"{folder}/{stem}_{kind}", payload)
            if n % 500 == 0:
                print(f"pack: {n} of {len(ids)} views", flush=True)
    print(f"pack: {len(ids)} views ({len(train)} train, {len(f.val)} val, {len(f.test)} test), "
          f"{out.stat().st_size / 2**20:.1f} MiB in {out}")


def _decode(job: tuple[Path, str, dict[str, bytes]]) -> None:
    out, stem, files = job
    out.mkdir(parents=True, exist_ok=True)
    rgb = cv2.imdecode(np.frombuffer(files["RGB.webp"], np.uint8), cv2.IMREAD_COLOR)
    q = cv2.imdecode(np.frombuffer(files["depth8.png"], np.uint8), cv2.IMREAD_GRAYSCALE)
    if rgb is None or q is None:
        raise ValueError(f"{out / stem}: undecodable packed image")
    cv2.imwrite(str(out / f"{stem}_RGB.png"), rgb, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    q = cv2.resize(q, rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    depth = np.where(q > 0, q.astype(np.float32) / 255, -1.0).astype(np.float32)
    cv2.imwrite(str(out / f"{stem}_perfect_depth.tiff"), depth)
    (out / f"{stem}_mask.png").write_bytes(files["mask.png"])
    (out / f"{stem}_grasps.txt").write_bytes(files["grasps.txt"])


def unpack(archive: Path, out: Path, workers: int = 4) -> None:
    """Write the packed views back in the Jacquard layout, and ``split.json`` beside them."""
    views: dict[tuple[str, str], dict[str, bytes]] = {}
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            data = tar.extractfile(member)
            if data is None:
                continue
            if member.name == "split.json":
                out.mkdir(parents=True, exist_ok=True)
                (out / "split.json").write_bytes(data.read())
                continue
            folder, name = member.name.rsplit("/", 1)
            kind = next(k for k in KINDS if name.endswith("_" + k))
            views.setdefault((folder, name[: -len(kind) - 1]), {})[kind] = data.read()
    jobs = [(out / "data" / folder, stem, files) for (folder, stem), files in views.items()]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_decode, jobs, chunksize=32))
    print(f"unpack: {len(jobs)} views into {out / 'data'}, split in {out / 'split.json'}")


def main() -> None:
    """``pack`` here, ``unpack`` on the machine that trains."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("data", type=Path)
    p.add_argument("split", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--every", action="append", default=[], metavar="FOLDER=N",
                   help="of the training objects under FOLDER keep every N-th (repeatable)")
    u = sub.add_parser("unpack")
    u.add_argument("archive", type=Path)
    u.add_argument("out", type=Path)
    u.add_argument("--workers", type=int, default=4)
    a = ap.parse_args()
    if a.cmd == "pack":
        every = {k: int(n) for k, n in (e.split("=", 1) for e in a.every)}
        pack(a.data, a.split, a.out, a.fold, every)
    else:
        unpack(a.archive, a.out, a.workers)


if __name__ == "__main__":
    main()
