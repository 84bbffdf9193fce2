"""Reading recorded bags (rosbag2 sqlite3/mcap and ROS 1) as ROS 2 messages, without ROS.

Built on ``rosbags``: :func:`open_bag` opens any of the three formats, :class:`Ros2View`
turns every message into its ROS 2 form (ROS 1 messages are migrated: ``K`` -> ``k``, the
header's ``seq`` dropped, ``tf/tfMessage`` -> ``tf2_msgs/msg/TFMessage``), and
:func:`find_layout` finds the image topics, their CameraInfo and the transforms. Decoding
images and CameraInfo is ``ros.image_codec``'s job, so that the replay decodes as the node does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
from rosbags.convert.converter import STATIC_MSGTYPE_RENAMES, is_same_wireformat, migrate_message
from rosbags.highlevel import AnyReader
from rosbags.interfaces import Connection, ConnectionExtRosbag1, ConnectionExtRosbag2, QosDurability
from rosbags.typesys import Stores, get_typestore

from ..projection import Transform

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES: tuple[str, ...] = (IMAGE, COMPRESSED_IMAGE)
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"
TF_STATIC = "/tf_static"
TF = "/tf"


class BagError(RuntimeError):
    """A bag that cannot be opened or does not hold what was asked for."""


def ros2_typestore() -> Any:
    """The message definitions written into and assumed for ROS 2 bags (Humble's, which
    Jazzy and Kilted share for every type this package reads or writes).
    """
    return get_typestore(Stores.ROS2_HUMBLE)


def topic_name(topic: str) -> str:
    """A ROS 2 absolute topic name (ROS 1 bags may hold relative names like ``cam/image``)."""
    return "/" + topic.lstrip("/")


def open_bag(path: str | Path) -> AnyReader:
    """An opened AnyReader over one bag: a rosbag2 folder (or its .db3/.mcap) or a .bag file."""
    path = Path(path)
    if path.suffix in (".db3", ".mcap") and path.is_file():
        path = path.parent
    if not path.exists():
        raise BagError(f"{path}: no such bag (expected a rosbag2 folder or a ROS 1 .bag file)")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        files = sorted(p.name for p in path.iterdir())[:5]
        raise BagError(f"{path}: a rosbag2 folder without metadata.yaml (holds: "
                       f"{', '.join(files) or 'nothing'}); `ros2 bag reindex {path}` writes "
                       f"it again from the storage files")
    try:
        reader = AnyReader([path], default_typestore=ros2_typestore())
        reader.open()
    except Exception as exc:  # rosbags raises several unrelated types for a bad bag
        raise BagError(f"{path}: cannot read as a rosbag2 or ROS 1 bag ({exc})") from None
    return reader


def duration_s(reader: AnyReader) -> float:
    """Seconds from the first to the last message; 0 for a bag without messages (rosbags
    reports one of nearly -2^63 ns then).
    """
    if reader.end_time < reader.start_time:
        return 0.0
    return (reader.end_time - reader.start_time) / 1e9


def is_latched(conn: Connection) -> bool:
    """Whether the recording offered transient-local durability (ROS 1: latching)."""
    if isinstance(conn.ext, ConnectionExtRosbag1):
        return bool(conn.ext.latching)
    if isinstance(conn.ext, ConnectionExtRosbag2):
        return any(q.durability == QosDurability.TRANSIENT_LOCAL
                   for q in conn.ext.offered_qos_profiles)
    return False


class Ros2View:
    """Messages of one opened reader as ROS 2 (CDR) bytes, whatever the bag's format."""

    def __init__(self, reader: AnyReader) -> None:
        self.reader = reader
        self.dst = ros2_typestore()
        self._cache: dict[str, object] = {}

    def msgtype(self, conn: Connection) -> str:
        """The ROS 2 type name of a connection's messages."""
        return STATIC_MSGTYPE_RENAMES.get(conn.msgtype, conn.msgtype)

    def convertible(self, conn: Connection) -> bool:
        """ROS 2 bags always; ROS 1 messages only when the ROS 2 type is known."""
        return self.reader.is2 or self.msgtype(conn) in self.dst.fielddefs

    def cdr(self, conn: Connection, raw: bytes) -> bytes:
        """The message serialised as ROS 2 (little-endian CDR) bytes."""
        if self.reader.is2:
            return bytes(raw)
        src, dst = self.reader.typestore, self.dst
        src_type, dst_type = conn.msgtype, self.msgtype(conn)
        if dst_type not in dst.fielddefs:
            raise BagError(f"{conn.topic}: no ROS 2 definition of {dst_type} to convert to")
        if is_same_wireformat(src, dst, src_type, dst_type):
            return bytes(dst.ros1_to_cdr(raw, dst_type))
        msg = migrate_message(src, dst, src_type, dst_type, self._cache,
                              src.deserialize_ros1(raw, src_type))
        return bytes(dst.serialize_cdr(msg, dst_type, little_endian=True))


# --- what is in a bag -----------------------------------------------------------------------

@dataclass
class BagLayout:
    """The topics of a bag that replay and offline processing care about (ROS 2 names)."""

    images: dict[str, str] = field(default_factory=dict)          # topic -> msgtype
    camera_info_of: dict[str, str | None] = field(default_factory=dict)  # image -> info topic
    camera_infos: list[str] = field(default_factory=list)
    tf_static: list[str] = field(default_factory=list)
    tf: list[str] = field(default_factory=list)


def camera_info_for(image_topic: str, info_topics: list[str]) -> str | None:
    """The CameraInfo topic of an image topic: ``<ns>/camera_info`` beside it, else the only one.

    ``/cam/image_raw``, ``/cam/image/compressed`` and ``/cam/image_rect_color`` all look for
    ``/cam/camera_info`` (the image_transport convention).
    """
    base = image_topic[:-len("/compressed")] if image_topic.endswith("/compressed") else \
        image_topic
    namespace = base.rsplit("/", 1)[0]
    candidate = f"{namespace}/camera_info"
    if candidate in info_topics:
        return candidate
    return info_topics[0] if len(info_topics) == 1 else None


def find_layout(reader: AnyReader, topics: list[str] | None = None) -> BagLayout:
    """Image, CameraInfo and tf topics of a bag, optionally limited to ``topics``."""
    wanted = {topic_name(t) for t in topics} if topics else None
    layout = BagLayout()
    for conn in reader.connections:
        name, msgtype = topic_name(conn.topic), STATIC_MSGTYPE_RENAMES.get(conn.msgtype,
                                                                           conn.msgtype)
        if msgtype in IMAGE_TYPES and (wanted is None or name in wanted):
            layout.images[name] = msgtype
        elif msgtype == CAMERA_INFO and name not in layout.camera_infos:
            layout.camera_infos.append(name)
        elif msgtype == TF_MESSAGE:
            target = layout.tf_static if name == TF_STATIC else layout.tf
            if name not in target:
                target.append(name)
    for image in layout.images:
        layout.camera_info_of[image] = camera_info_for(image, layout.camera_infos)
    return layout


def stamp_ns(msg: Any) -> int:
    """A message header's stamp in integer nanoseconds."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


# --- lookups by stamp and frame ----------------------------------------------------------------

T = TypeVar("T")


class StampIndex(Generic[T]):
    """Values (e.g. camera models of CameraInfo messages) by stamp; picks the nearest one."""

    def __init__(self) -> None:
        self._stamps: list[int] = []
        self._values: list[T] = []

    def add(self, stamp: int, value: T) -> None:
        """Record ``value`` at ``stamp`` (ns)."""
        self._stamps.append(int(stamp))
        self._values.append(value)

    def __len__(self) -> int:
        return len(self._stamps)

    def values(self) -> list[T]:
        """Every value, in the order added."""
        return list(self._values)

    def nearest(self, stamp: int) -> T | None:
        """The value whose stamp is nearest ``stamp`` (the earlier one on a tie), or None."""
        if not self._stamps:
            return None
        order = np.argsort(np.asarray(self._stamps, np.int64), kind="stable")
        stamps = np.asarray(self._stamps, np.int64)[order]
        i = int(np.searchsorted(stamps, stamp))
        best = min((j for j in (i - 1, i) if 0 <= j < len(stamps)),
                   key=lambda j: (abs(int(stamps[j]) - stamp), j))
        return self._values[int(order[best])]


class StaticTransforms:
    """A tree of fixed transforms (from /tf_static) that answers ``lookup(target, source)``."""

    def __init__(self) -> None:
        self._edges: dict[str, dict[str, Transform]] = {}

    def add(self, parent: str, child: str, child_to_parent: Transform) -> None:
        """A fixed edge: ``child_to_parent`` maps child points into ``parent``."""
        parent, child = parent.lstrip("/"), child.lstrip("/")
        self._edges.setdefault(parent, {})[child] = child_to_parent.inverse()
        self._edges.setdefault(child, {})[parent] = child_to_parent

    @property
    def frames(self) -> list[str]:
        """Every frame named by an edge, sorted."""
        return sorted(self._edges)

    def edges(self) -> dict[str, dict[str, Transform]]:
        """Frame -> {neighbour: transform mapping frame points into the neighbour} (a copy)."""
        return {k: dict(v) for k, v in self._edges.items()}

    def lookup(self, target: str, source: str) -> Transform | None:
        """The transform that maps ``source`` points into ``target``, or None if unlinked."""
        return chain_transforms(self._edges, target, source)


def chain_transforms(edges: dict[str, dict[str, Transform]], target: str,
                     source: str) -> Transform | None:
    """Walk a frame graph (frame -> {neighbour: transform mapping frame points into the
    neighbour}) breadth first: the transform mapping ``source`` points into ``target``, or None
    when the two are not linked.
    """
    target, source = target.lstrip("/"), source.lstrip("/")
    if target == source:
        return Transform()
    seen: dict[str, Transform] = {source: Transform()}
    queue = deque([source])
    while queue:
        frame = queue.popleft()
        for nxt, step in edges.get(frame, {}).items():
            if nxt not in seen:
                seen[nxt] = step * seen[frame]
                if nxt == target:
                    return seen[nxt]
                queue.append(nxt)
    return None


def iter_messages(reader: AnyReader,
                  topics: list[str]) -> Iterator[tuple[Connection, int, bytes]]:
    """(connection, log time ns, raw bytes) of the named ROS 2 topics, in log-time order."""
    names = set(topics)
    conns = [c for c in reader.connections if topic_name(c.topic) in names]
    yield from reader.messages(connections=conns)
