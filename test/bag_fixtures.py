"""Helpers for the replay tests: a seeded model file, generated camera bags, bag read-back."""

from __future__ import annotations

from pathlib import Path

import torch

from mtg_grasp_ros.bags import open_bag, topic_name
from mtg_grasp_ros.bags.sample import (
    LOOKING_DOWN,
    default_camera,
    toy_table_frames,
    write_camera_bag,
)
from mtg_grasp_ros.model import build_model
from mtg_grasp_ros.model_io import save_model
from mtg_grasp_ros.projection import Transform


def make_model(path: Path) -> Path:
    """An untrained but seeded GG-CNN2: deterministic grasps, the real loading path."""
    torch.manual_seed(0)
    save_model(build_model("ggcnn2", None), path)
    return path


def make_bag(path: Path, frames: int = 10, fps: float = 10.0, storage: str = "sqlite3",
             size: tuple[int, int] = (160, 120), pose: Transform = LOOKING_DOWN) -> Path:
    write_camera_bag(path, toy_table_frames(frames, fps, default_camera(*size), pose),
                     storage=storage)
    return path


def read_topic(bag: Path, topic: str) -> list[tuple[int, object, bytes]]:
    """(log time, ROS 2 form rosbags message, raw bytes) of one topic of a bag."""
    reader = open_bag(bag)
    try:
        conns = [c for c in reader.connections if topic_name(c.topic) == topic]
        return [(t, reader.deserialize(raw, c.msgtype), bytes(raw))
                for c, t, raw in reader.messages(connections=conns)]
    finally:
        reader.close()
