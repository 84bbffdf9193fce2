"""The camera's pose from tf2 (``camera_pose.TransformSource`` over a tf2 Buffer)."""

from __future__ import annotations

from collections.abc import Callable

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.time import Time

from ..camera_pose import TransformTooOld, TransformUnavailable
from ..projection import Transform
from ..settings import Settings
from . import grasp_encoders


def tf2_available() -> bool:
    """Whether tf2_ros is importable here."""
    try:
        import tf2_ros  # noqa: F401
        return True
    except ImportError:
        return False


#: Called with (age in seconds, what was looked up) when the latest-transform fallback served.
FallbackHook = Callable[[float, str], None]


class Tf2CameraPose:
    """tf2: Buffer + TransformListener, looked up at the image stamp, bounded latest fallback.

    ``lookup`` is called from the node's frame threads, never from an executor callback, so its
    timeout waits while the executor keeps receiving /tf. Timeout and fallback are read from
    the node's current settings on every lookup. The fallback to the latest transform serves
    only when that transform's stamp is within ``tf.fallback_max_age`` of the image's (else
    :class:`TransformTooOld`), and each use is reported to ``on_fallback`` (the node counts
    and logs it): a moving camera placed with an old transform puts every grasp off by the
    distance it moved.
    """

    name = "tf2"

    def __init__(self, node: Node, settings: Callable[[], Settings],
                 on_fallback: FallbackHook | None = None) -> None:
        """Listen to /tf and /tf_static on ``node``; ``settings()`` gives the current ones."""
        from tf2_ros.buffer import Buffer
        from tf2_ros.transform_listener import TransformListener

        self._settings = settings
        self._on_fallback = on_fallback
        # With the node, the Buffer uses the node's clock (use_sim_time; Jazzy and later clear
        # it when sim time jumps back) and serves ~/tf2_frames; Humble's Buffer takes node too.
        self.buffer = Buffer(node=node)
        self.listener = TransformListener(self.buffer, node)

    def describe(self) -> str:
        """One line for the log."""
        s = self._settings()
        fallback = f"yes, up to {s.tf_fallback_max_age} s old" if s.tf_fallback_latest else "no"
        return (f"tf2 (lookup at the image stamp, timeout {s.tf_timeout} s, fallback to the "
                f"latest transform: {fallback})")

    def lookup(self, target: str, source: str, stamp_ns: int) -> Transform:
        """``source`` -> ``target`` at the stamp, else (when allowed and recent) the latest."""
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
            latest_ns = Time.from_msg(t.header.stamp).nanoseconds
            age = abs(stamp_ns - latest_ns) * 1e-9
            what = f"{source!r} -> {target!r}"
            if age > s.tf_fallback_max_age:
                raise TransformTooOld(
                    f"{what}: none at the image stamp within tf.timeout {s.tf_timeout} s "
                    f"({exc}); the latest is {age:.3f} s from the image stamp, more than "
                    f"tf.fallback_max_age {s.tf_fallback_max_age} s") from None
            if self._on_fallback is not None:
                self._on_fallback(age, what)
        return grasp_encoders.transform_from_msg(t.transform)
