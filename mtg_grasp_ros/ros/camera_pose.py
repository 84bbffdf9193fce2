"""The camera's pose from tf2 (``camera_pose.TransformSource`` over a tf2 Buffer)."""

from __future__ import annotations

from collections.abc import Callable

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.time import Time

from ..camera_pose import TransformUnavailable
from ..projection import Transform
from ..settings import Settings
from . import messages


def tf2_available() -> bool:
    """Whether tf2_ros is importable here."""
    try:
        import tf2_ros  # noqa: F401
        return True
    except ImportError:
        return False


class Tf2CameraPose:
    """tf2: Buffer + TransformListener, looked up at the image stamp, optional latest fallback.

    ``lookup`` is called from the inference thread, never from an executor callback, so its
    timeout waits while the executor keeps receiving /tf. Timeout and fallback are read from
    the node's current settings on every lookup.
    """

    name = "tf2"

    def __init__(self, node: Node, settings: Callable[[], Settings]) -> None:
        """Listen to /tf and /tf_static on ``node``; ``settings()`` gives the current ones."""
        from tf2_ros.buffer import Buffer
        from tf2_ros.transform_listener import TransformListener

        self._settings = settings
        self.buffer = Buffer()
        self.listener = TransformListener(self.buffer, node)

    def describe(self) -> str:
        """One line for the log."""
        s = self._settings()
        return (f"tf2 (lookup at the image stamp, timeout {s.tf_timeout} s, fallback to the "
                f"latest transform: {'yes' if s.tf_fallback_latest else 'no'})")

    def lookup(self, target: str, source: str, stamp_ns: int) -> Transform:
        """``source`` -> ``target`` at the stamp, else (when allowed) the latest one."""
        from tf2_ros import TransformException

        s = self._settings()
        try:
            t = self.buffer.lookup_transform(target, source, Time(nanoseconds=stamp_ns),
                                             timeout=Duration(seconds=s.tf_timeout))
        except TransformException as exc:
            if not s.tf_fallback_latest:
                raise TransformUnavailable(f"{source!r} -> {target!r}: {exc}") from None
            try:
                t = self.buffer.lookup_transform(target, source, Time())
            except TransformException as exc2:
                raise TransformUnavailable(f"{source!r} -> {target!r} (also latest): "
                                           f"{exc2}") from None
        return messages.transform_from_msg(t.transform)
