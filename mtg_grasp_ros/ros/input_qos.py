"""The node's input subscriptions (image, camera_info, depth) and their QoS.

``qos.reliability auto`` follows the publishers, as rosbag2 records: reliable when every
publisher of a topic offers it, else best effort (which matches any publisher). A timer looks
again every :data:`FOLLOW_PERIOD_S` and re-subscribes an input whose publishers changed, make
before break: the old subscription keeps delivering for one more period, and a frame that
comes through both is passed on once (:meth:`InputSubscriptions.duplicate`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

#: Seconds between checks of the input publishers' QoS (qos.reliability auto).
FOLLOW_PERIOD_S = 1.0


@dataclass
class Input:
    """One input subscription: message class, topic, callback, and how it is subscribed."""

    cls: type
    topic: str
    callback: Callable[[Any], None]
    sub: Any = None
    reliability: ReliabilityPolicy = ReliabilityPolicy.BEST_EFFORT
    retiring: Any = None        # the previous subscription, kept until the new one has matched


def publishers_reliability(node: Node, topic: str) -> ReliabilityPolicy | None:
    """RELIABLE when every publisher of ``topic`` offers it, BEST_EFFORT when one does not,
    None without publishers (rosbag2's rule for recording).
    """
    infos = node.get_publishers_info_by_topic(topic)
    if not infos:
        return None
    if all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


class InputSubscriptions:
    """The inputs of a node, subscribed with ``reliability`` (auto, best_effort, reliable)."""

    def __init__(self, node: Node, inputs: list[Input], reliability: str, depth: int,
                 on_switch: Callable[[], None]) -> None:
        """Subscribe every input; ``on_switch()`` is called when the image input switches."""
        self._node, self.inputs = node, inputs
        self._reliability, self._depth, self._on_switch = reliability, depth, on_switch
        self._lock = threading.Lock()           # frames seen while subscriptions overlap
        self._recent: deque[tuple[int, int, str]] = deque(maxlen=16)
        self._dedupe_until = -math.inf
        for inp in inputs:
            self._subscribe(inp, self._policy_for(inp.topic))
        if reliability == "auto":
            node.create_timer(FOLLOW_PERIOD_S, self.follow_publishers)

    @property
    def image(self) -> Input:
        """The image input (the first)."""
        return self.inputs[0]

    def reliability_of(self, topic: str) -> ReliabilityPolicy:
        """How the input ``topic`` (image, camera_info, depth ...) is subscribed now."""
        return next(i.reliability for i in self.inputs if i.topic == topic)

    def _subscribe(self, inp: Input, reliability: ReliabilityPolicy) -> None:
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self._depth,
                         reliability=reliability)
        inp.sub = self._node.create_subscription(inp.cls, inp.topic, inp.callback, qos)
        inp.reliability = reliability

    def _policy_for(self, topic: str) -> ReliabilityPolicy:
        """The reliability to subscribe ``topic`` with now (auto: what its publishers offer)."""
        if self._reliability == "reliable":
            return ReliabilityPolicy.RELIABLE
        if self._reliability == "best_effort":
            return ReliabilityPolicy.BEST_EFFORT
        return publishers_reliability(self._node, self._node.resolve_topic_name(topic)) \
            or ReliabilityPolicy.BEST_EFFORT    # nobody publishes yet: matches any publisher

    def follow_publishers(self) -> None:
        """Re-subscribe an input whose publishers now offer another reliability."""
        for inp in self.inputs:
            if inp.retiring is not None:    # the new subscription has had a period to match
                self._node.destroy_subscription(inp.retiring)
                inp.retiring = None
            want = publishers_reliability(self._node, inp.sub.topic_name)
            if want is None or want == inp.reliability:
                continue
            inp.retiring = inp.sub
            self._subscribe(inp, want)
            if inp is self.image:
                with self._lock:
                    self._dedupe_until = time.monotonic() + 2 * FOLLOW_PERIOD_S
                self._on_switch()
            self._node.get_logger().info(f"qos.reliability auto: {inp.sub.topic_name} now "
                                         f"{want.name.lower()}, as its publishers offer")

    def duplicate(self, msg: Any) -> bool:
        """While two image subscriptions overlap (a reliability switch), whether this frame
        already came through the other one (same stamp and frame).
        """
        with self._lock:
            if time.monotonic() >= self._dedupe_until:
                return False
            key = (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id)
            if key in self._recent:
                return True
            self._recent.append(key)
            return False
