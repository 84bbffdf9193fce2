"""Pre-labels: the detector's top grasps of each image of a folder, or of a bag's frames.

The images are copied (a bag's every n-th camera frame is written as PNG) into the output's
``images/`` folder, so that the annotation tool opens one self-contained folder. Detection is
``GraspDetector.detect``, the node's own preprocessing, network and postprocessing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..detector import GraspDetector
from .records import IMAGE_SUFFIXES, LabelledImage
from .rectangles import LabelError


def folder_images(folder: Path) -> list[Path]:
    """The image files of a folder, in name order."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise LabelError(f"--images {folder}: no {'/'.join(IMAGE_SUFFIXES)} files in it")
    return files


def copy_folder(folder: Path, images: Path) -> Iterator[tuple[Path, np.ndarray]]:
    """Each image of ``folder`` copied into ``images``, with its RGB pixels."""
    for src in folder_images(folder):
        bgr = cv2.imread(str(src), cv2.IMREAD_COLOR)
        if bgr is None:
            raise LabelError(f"{src}: not a readable image")
        dst = images / src.name
        shutil.copyfile(src, dst)
        yield dst, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def bag_frames(bag: Path, images: Path, every: int,
               topic: str | None = None) -> Iterator[tuple[Path, np.ndarray]]:
    """Every ``every``-th frame of a bag's camera topic, written into ``images`` as PNG.

    Messages are decoded as the offline replay decodes them (``ros.frame_input``), which needs
    the ROS 2 message packages (in the ROS requirements).
    """
    from ..bags import Ros2View, find_layout, iter_messages, open_bag, topic_name
    from ..ros.bag_messages import message_class, to_rclpy
    from ..ros.frame_input import decode

    reader = open_bag(bag)
    try:
        layout = find_layout(reader, [topic] if topic else None)
        if not layout.images:
            raise LabelError(f"--images {bag}: no camera image topic"
                             + (f" named {topic}" if topic else ""))
        name = sorted(layout.images)[0]
        view, cls = Ros2View(reader), message_class(layout.images[name])
        for index, (conn, _, raw) in enumerate(iter_messages(reader, [name])):
            if index % every:
                continue
            rgb = decode(to_rclpy(view, conn, raw, cls))
            path = images / f"{topic_name(name).strip('/').replace('/', '_')}_{index:06d}.png"
            cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            yield path, rgb
    finally:
        reader.close()


def suggest(detector: GraspDetector, frames: Iterator[tuple[Path, np.ndarray]],
            top_k: int) -> list[LabelledImage]:
    """The top ``top_k`` grasps of each frame, best first."""
    post = replace(detector.post, top_k=top_k)
    items = []
    for path, rgb in tqdm(frames, desc="pre-labels", unit="image"):
        grasps = detector.detect(rgb, post).grasps
        items.append(LabelledImage(path, rgb.shape[1], rgb.shape[0], list(grasps)))
    return items
