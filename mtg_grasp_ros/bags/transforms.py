"""Where the camera is according to a bag: its ``/tf_static`` and ``/tf``, without ROS.

:class:`BagTransforms` is the bag's counterpart of tf2 (``camera_pose.TransformSource``):
static transforms hold at every time, each ``/tf`` edge is taken at the message nearest the
asked stamp. The offline replay and the demo read where the camera is through it.
"""

from __future__ import annotations

from typing import Any

from rosbags.highlevel import AnyReader

from ..camera_pose import TransformUnavailable
from ..projection import Transform
from .reader import (
    TF_MESSAGE,
    Ros2View,
    StampIndex,
    StaticTransforms,
    chain_transforms,
    find_layout,
    iter_messages,
    stamp_ns,
)


def transform_of(msg: Any) -> Transform:
    """The Transform of a geometry_msgs/Transform (rosbags or rclpy message)."""
    t, q = msg.translation, msg.rotation
    return Transform((float(t.x), float(t.y), float(t.z)),
                     (float(q.x), float(q.y), float(q.z), float(q.w)))


class BagTransforms:
    """The transform tree of a bag: static edges always, /tf edges nearest in time."""

    name = "bag /tf + /tf_static"

    def __init__(self) -> None:
        """An empty tree; fill it with :meth:`add` or build it with :meth:`from_reader`."""
        self.static = StaticTransforms()
        self._dynamic: dict[tuple[str, str], StampIndex[Transform]] = {}

    def add(self, parent: str, child: str, child_to_parent: Transform,
            stamp: int | None = None) -> None:
        """A static edge (``stamp`` None) or one /tf sample of an edge at ``stamp`` ns."""
        if stamp is None:
            self.static.add(parent, child, child_to_parent)
            return
        key = (parent.lstrip("/"), child.lstrip("/"))
        self._dynamic.setdefault(key, StampIndex()).add(stamp, child_to_parent)

    @classmethod
    def from_reader(cls, reader: AnyReader) -> BagTransforms:
        """All of an opened bag's /tf_static and /tf messages."""
        view = Ros2View(reader)
        layout = find_layout(reader)
        tree = cls()
        for conn, _, raw in iter_messages(reader, layout.tf_static + layout.tf):
            if view.msgtype(conn) != TF_MESSAGE:
                continue
            static = conn.topic.lstrip("/") == "tf_static"
            for ts in view.dst.deserialize_cdr(view.cdr(conn, raw), TF_MESSAGE).transforms:
                tree.add(ts.header.frame_id, ts.child_frame_id, transform_of(ts.transform),
                         None if static else stamp_ns(ts))
        return tree

    @property
    def frames(self) -> list[str]:
        """Every frame named by a static or dynamic edge."""
        names = set(self.static.frames)
        for parent, child in self._dynamic:
            names |= {parent, child}
        return sorted(names)

    def lookup(self, target: str, source: str, stamp_ns: int) -> Transform:
        """``source`` -> ``target`` at ``stamp_ns``; TransformUnavailable when not linked."""
        edges = self.static.edges()
        for (parent, child), index in self._dynamic.items():
            t = index.nearest(stamp_ns)
            if t is not None:
                edges.setdefault(parent, {})[child] = t.inverse()
                edges.setdefault(child, {})[parent] = t
        found = chain_transforms(edges, target, source)
        if found is not None:
            return found
        raise TransformUnavailable(f"the bag's /tf and /tf_static do not link {source!r} to "
                                   f"{target!r} (frames: {', '.join(self.frames) or 'none'})")
