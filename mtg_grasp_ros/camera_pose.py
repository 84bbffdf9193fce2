"""Where the camera is: one small interface over the sources of camera poses.

A :class:`TransformSource` answers ``lookup(target, source, stamp_ns)`` with the
:class:`~mtg_grasp_ros.projection.Transform` that maps ``source`` points into ``target`` at
the given time, or raises :class:`TransformUnavailable` saying why not. The sources:

* :class:`StaticCameraPose` - the node's ``camera_pose.xyz/rpy`` parameters (here);
* ``bags.transforms.BagTransforms`` - a bag's ``/tf`` and ``/tf_static`` (no ROS needed);
* ``ros.camera_pose.Tf2CameraPose`` - tf2 in a running ROS graph;
* :class:`FirstAvailable` - the first of several that knows the answer.

The frame pipeline (``pipeline.py``) takes any of them, so the node and the offline replay
look the camera up the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .projection import Transform


class TransformUnavailable(LookupError):
    """No transform between two frames at the asked time (the message says why)."""


class TransformTooOld(TransformUnavailable):
    """Only a transform too far from the asked time (``tf.fallback_max_age``) is known."""


class TransformSource(Protocol):
    """Anything that can say where one frame is in another at a time."""

    name: str

    def lookup(self, target: str, source: str, stamp_ns: int) -> Transform:
        """The transform mapping ``source`` points into ``target`` at ``stamp_ns``."""
        ...


class StaticCameraPose:
    """A fixed pose of the camera in one frame: knows only camera -> ``target_frame``."""

    name = "static"

    def __init__(self, target_frame: str, pose: Transform) -> None:
        """``pose`` maps the camera's optical frame (whatever its name) into ``target_frame``."""
        self.target_frame, self.pose = target_frame, pose

    def describe(self) -> str:
        """One line for the log."""
        return (f"static camera pose from parameters (camera_pose.xyz/rpy) into "
                f"{self.target_frame!r}: translation {self.pose.translation}")

    def lookup(self, target: str, source: str, stamp_ns: int) -> Transform:
        """Identity for ``target == source``, the static pose into ``target_frame``, else raise."""
        if target.lstrip("/") == source.lstrip("/"):
            return Transform()
        if target.lstrip("/") == self.target_frame.lstrip("/"):
            return self.pose
        raise TransformUnavailable(f"the static camera pose knows only {source!r} -> "
                                   f"{self.target_frame!r}, not {source!r} -> {target!r} "
                                   f"(use tf2, or give the plane in target_frame)")


class FirstAvailable:
    """Several sources tried in order; ``used`` names the one that answered last."""

    def __init__(self, sources: Sequence[TransformSource]) -> None:
        """``sources``: tried in this order."""
        if not sources:
            raise ValueError("FirstAvailable needs at least one source")
        self.sources = list(sources)
        self.name = " or ".join(s.name for s in self.sources)
        self.used = ""

    def lookup(self, target: str, source: str, stamp_ns: int) -> Transform:
        """The first source's answer; TransformUnavailable with every reason when none has one."""
        reasons = []
        for s in self.sources:
            try:
                t = s.lookup(target, source, stamp_ns)
            except TransformUnavailable as exc:
                reasons.append(f"{s.name}: {exc}")
                continue
            self.used = s.name
            return t
        raise TransformUnavailable("; ".join(reasons))
