"""Bag messages as rclpy messages: the message class of a type name, and CDR to message."""

from __future__ import annotations

import importlib
from typing import Any

from rclpy.serialization import deserialize_message
from rosbags.interfaces import Connection

from ..bags import Ros2View


class MissingMessageType(ImportError):
    """A message type whose Python package is not installed in this environment."""


def message_class(msgtype: str) -> type:
    """The rclpy message class of ``pkg/msg/Name`` (e.g. ``sensor_msgs/msg/Image``)."""
    pkg, kind, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.{kind}"), name)
    except (ImportError, AttributeError):
        raise MissingMessageType(f"{msgtype}: the Python package {pkg!r} is not installed "
                                 f"(source a ROS 2 install that has it)") from None


def to_rclpy(view: Ros2View, conn: Connection, raw: bytes, cls: type | None = None) -> Any:
    """A bag message (any bag format) as an rclpy message of its ROS 2 type."""
    return deserialize_message(view.cdr(conn, raw), cls or message_class(view.msgtype(conn)))
