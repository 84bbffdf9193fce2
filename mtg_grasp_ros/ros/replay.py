"""Live replay: publish a recorded bag into a ROS 2 graph with its original (or scaled) timing.

What ``ros2 bag play`` does, for machines without rosbag2, on the ``rosbags`` reader: rosbag2
(sqlite3, mcap) and ROS 1 bags, messages re-serialised as ROS 2 (see ``bags.Ros2View``) and
published unchanged, so header stamps are the bag's. ``/tf_static`` and topics recorded as
latched (transient-local, or ROS 1 ``latching``) are published transient-local with a depth
that holds all their messages, so that a late-joining subscriber still receives them; the
others reliable, keep-last. Topics whose message package is not installed are skipped and
named in the summary.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from ..bags import IMAGE_TYPES, TF_STATIC, Ros2View, duration_s, is_latched, open_bag, topic_name
from .bag_messages import MissingMessageType, message_class, to_rclpy


@dataclass(frozen=True)
class ReplayOptions:
    """``mtg_grasp replay`` options (see the command's help)."""

    rate: float = 1.0
    loop: bool = False
    topics: tuple[str, ...] = ()
    start_delay: float = 0.5
    clock: bool = False
    remap: dict[str, str] = field(default_factory=dict)
    wait_for: tuple[str, ...] = ()      # output topics that need a subscriber before playing
    wait_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"--rate must be > 0, got {self.rate}")
        if self.start_delay < 0:
            raise ValueError(f"--start-delay must be >= 0, got {self.start_delay}")
        if self.wait_timeout < 0:
            raise ValueError(f"--wait-timeout must be >= 0, got {self.wait_timeout}")


@dataclass
class ReplayStats:
    """What one replay published, and how long the playing took (first to last message)."""

    published: Counter = field(default_factory=Counter)   # output topic -> messages
    skipped: dict[str, str] = field(default_factory=dict)  # bag topic -> why
    undecodable: Counter = field(default_factory=Counter)  # bag topic -> corrupt messages
    seconds: float = 0.0
    bag_seconds: float = 0.0
    loops: int = 0


def qos_for(topic: str, msgtype: str, latched: bool, count: int) -> QoSProfile:
    """Transient-local (depth = all its messages) for /tf_static and latched topics;
    reliable keep-last otherwise (10 for images, 100 for the rest).
    """
    if latched or topic == TF_STATIC:
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=max(1, min(count, 1000)),
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST,
                      depth=10 if msgtype in IMAGE_TYPES else 100,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


class BagPlayer:
    """Publishes one bag's messages from a node, paced by their recorded log times."""

    def __init__(self, node: Node, bag: str | Path, opts: ReplayOptions = ReplayOptions(),
                 log: Callable[[str], None] = print) -> None:
        self.node, self.opts, self.log = node, opts, log
        self.reader = open_bag(bag)
        self.view = Ros2View(self.reader)
        self.stats = ReplayStats(bag_seconds=duration_s(self.reader))
        self._pubs: dict[str, tuple[Publisher, type, str]] = {}   # bag topic -> pub, cls, out
        self._clock: tuple[Publisher, type] | None = None
        self._stop = threading.Event()
        self.interrupted = False      #: Ctrl-C stopped play()
        try:
            self._advertise()
        except Exception:
            self.close()
            raise

    def _advertise(self) -> None:
        wanted = {topic_name(t) for t in self.opts.topics}
        by_topic: dict[str, list] = {}
        for conn in self.reader.connections:
            name = topic_name(conn.topic)
            if not wanted or name in wanted:
                by_topic.setdefault(name, []).append(conn)
        missing = wanted - set(by_topic)
        if missing:
            raise ValueError(f"topics not in the bag: {sorted(missing)}")
        for name, conns in sorted(by_topic.items()):
            msgtype = self.view.msgtype(conns[0])
            try:
                if not self.view.convertible(conns[0]):
                    raise MissingMessageType(f"{msgtype}: no ROS 2 definition to convert to")
                cls = message_class(msgtype)
            except MissingMessageType as exc:
                self.stats.skipped[name] = str(exc)
                continue
            remap = {topic_name(k): v for k, v in self.opts.remap.items()}
            out = remap.get(name, name)
            qos = qos_for(name, msgtype, any(is_latched(c) for c in conns),
                          sum(c.msgcount for c in conns))
            self._pubs[name] = (self.node.create_publisher(cls, out, qos), cls, out)
        if self.opts.clock:
            from rosgraph_msgs.msg import Clock
            self._clock = (self.node.create_publisher(Clock, "/clock", 10), Clock)
        for name, why in self.stats.skipped.items():
            self.log(f"not published: {name} ({why})")

    def _publish_clock(self, log_time: int) -> None:
        assert self._clock is not None
        pub, cls = self._clock
        msg = cls()
        msg.clock.sec, msg.clock.nanosec = divmod(int(log_time), 1_000_000_000)
        pub.publish(msg)

    @contextmanager
    def _ctrl_c_stops(self, active: bool) -> Iterator[None]:
        """When ``active``, in the main thread: Ctrl-C (SIGINT) sets the stop event instead of
        raising KeyboardInterrupt, which, raised inside rclpy's or rosbags' C++ (publish,
        deserialise), came out as a TypeError or RCLError traceback.
        """
        if not active or threading.current_thread() is not threading.main_thread():
            yield
            return
        def on_sigint(*_: object) -> None:
            self.interrupted = True
            # set from another thread: the handler may run while this one holds the event's lock
            threading.Thread(target=self._stop.set, daemon=True).start()

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def play(self, ctrl_c_stops: bool = False) -> ReplayStats:
        """Play (and loop, if asked) until the end or :meth:`stop`.

        ``ctrl_c_stops``: Ctrl-C stops playing between two messages (for a process that owns
        SIGINT, as ``mtg_grasp replay``); else Ctrl-C raises KeyboardInterrupt as usual.
        """
        with self._ctrl_c_stops(ctrl_c_stops):
            stats = self._play()
        if self.interrupted:
            self.log("stopped")
        return stats

    def _wait_for_subscribers(self) -> None:
        """Hold the first message until each ``wait_for`` topic has a matched subscriber, so a
        loaded machine's slow discovery loses no message (a fixed delay cannot promise that).
        """
        if not self.opts.wait_for:
            return
        pubs = {out: pub for pub, _, out in self._pubs.values()}
        if self._clock is not None:
            pubs["/clock"] = self._clock[0]
        unknown = [t for t in self.opts.wait_for if t not in pubs]
        if unknown:
            raise ValueError(f"--wait-for {unknown}: not among the published topics "
                             f"{sorted(pubs)}")
        deadline = time.monotonic() + self.opts.wait_timeout
        while not self._stop.is_set():
            missing = [t for t in self.opts.wait_for if pubs[t].get_subscription_count() == 0]
            if not missing:
                return
            if time.monotonic() >= deadline:
                self.log(f"no subscriber on {missing} after {self.opts.wait_timeout:.1f} s; "
                         f"playing anyway")
                return
            self._stop.wait(0.05)

    def _play(self) -> ReplayStats:
        conns = [c for c in self.reader.connections if topic_name(c.topic) in self._pubs]
        self._wait_for_subscribers()
        self._stop.wait(self.opts.start_delay)   # let subscribers discover the publishers
        start = time.monotonic()
        offset = 0.0
        try:
            while not self._stop.is_set():
                first: int | None = None
                for conn, log_time, raw in self.reader.messages(connections=conns):
                    first = log_time if first is None else first
                    due = start + offset + (log_time - first) / 1e9 / self.opts.rate
                    if self._stop.wait(max(0.0, due - time.monotonic())):
                        break
                    name = topic_name(conn.topic)
                    pub, cls, out = self._pubs[name]
                    if self._clock is not None:
                        self._publish_clock(log_time)
                    try:
                        msg = to_rclpy(self.view, conn, raw, cls)
                    except Exception as exc:  # noqa: BLE001 - a corrupt message: count, go on
                        if not self.stats.undecodable[name]:
                            self.log(f"skipping undecodable messages on {name}: "
                                     f"{' '.join(str(exc).split())[:200]}")
                        self.stats.undecodable[name] += 1
                        continue
                    pub.publish(msg)
                    self.stats.published[out] += 1
                else:
                    self.stats.loops += 1
                self.stats.seconds = time.monotonic() - start
                if not self.opts.loop or first is None:
                    break
                offset = self.stats.seconds
        except KeyboardInterrupt:
            self.stats.seconds = time.monotonic() - start
            self.log("stopped")
        return self.stats

    def stop(self) -> None:
        """Ask :meth:`play` (running in another thread) to return after the current message."""
        self._stop.set()

    def close(self, ack_timeout: float = 2.0) -> None:
        """Destroy the publishers once their reliable subscribers have acknowledged what was
        sent (at most ``ack_timeout`` s in all), so the bag's last messages are not lost when
        the process ends right after playing.
        """
        deadline = time.monotonic() + ack_timeout
        publishers = [pub for pub, _, _ in self._pubs.values()]
        if self._clock is not None:
            publishers.append(self._clock[0])
        for pub in publishers:
            left = max(0.0, deadline - time.monotonic())
            pub.wait_for_all_acked(Duration(seconds=left))
        for pub, _, _ in self._pubs.values():
            self.node.destroy_publisher(pub)
        self.reader.close()


def replay_live(bag: str | Path, opts: ReplayOptions = ReplayOptions(),
                log: Callable[[str], None] = print) -> ReplayStats:
    """Publish ``bag`` from a node ``mtg_grasp_replay`` and report what went out."""
    owns = not rclpy.ok()
    if owns:   # Ctrl-C is the player's (see BagPlayer.play), not rclpy's context shutdown
        from rclpy.signals import SignalHandlerOptions
        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("mtg_grasp_replay")
    try:
        player = BagPlayer(node, bag, opts, log)
        try:
            log(f"playing {bag} ({player.stats.bag_seconds:.2f} s) at rate {opts.rate}"
                + (", looping" if opts.loop else ""))
            stats = player.play(ctrl_c_stops=owns)
        finally:
            player.close()
    finally:
        node.destroy_node()
        if owns:
            rclpy.try_shutdown()
    for topic, n in sorted(stats.published.items()):
        log(f"  {topic}: {n} messages")
    for topic, n in sorted(stats.undecodable.items()):
        log(f"  {topic}: {n} undecodable messages skipped")
    log(f"played {stats.loops} time(s) in {stats.seconds:.2f} s")
    return stats
