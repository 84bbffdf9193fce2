"""``~/detect`` (std_srvs/Trigger): each call is answered with the next fresh frame's grasp.

Every call waits as a coroutine in a reentrant callback group, so any number of calls wait at
once without holding an executor thread, and one fresh frame answers all that wait for it, in
the order they came. A call waits ``request_timeout`` seconds for a frame received after it;
when one came in time it waits for that frame's result (at most :data:`FRAME_GRACE_S` more).
Past ``detect.max_waiting`` waiting calls a new one is answered at once, unsuccessfully, with
the reason; the request queue (service QoS) holds twice that many, so a burst is not lost in
DDS before the node takes it. :meth:`DetectService.stop` answers every waiting call ("the node
is shutting down").
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_srvs.srv import Trigger

from .frame_slot import SHUTDOWN_MESSAGE, FrameSlot, Request

#: Seconds a call whose fresh frame arrived in time waits for that frame's result at most.
FRAME_GRACE_S = 10.0
#: Seconds between wake-ups of the executor while calls wait (their deadlines are checked then).
TICK_S = 0.05


class _NextWake:
    """Awaiting it suspends a coroutine callback until the executor runs it again, which
    rclpy does each time the executor wakes up (a message, a timer, a guard condition).
    """

    def __await__(self) -> Generator[None, None, None]:
        yield


class DetectService:
    """The ``~/detect`` service of a node, its waiting calls and their counters."""

    def __init__(self, node: Node, frames: FrameSlot, request_timeout: Callable[[], float],
                 max_waiting: int) -> None:
        """Serve ``~/detect`` on ``node``; ``request_timeout()`` is read at each call."""
        self._frames = frames
        self._timeout = request_timeout
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._active = 0
        # wakes the executor when a frame thread has answered a call, so its coroutine looks
        self._wake_gc = node.create_guard_condition(lambda: None)
        self._tick = node.create_timer(TICK_S, lambda: None)
        self._tick.cancel()                      # runs only while calls wait
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2 * max_waiting,
                         reliability=ReliabilityPolicy.RELIABLE)
        self.service = node.create_service(Trigger, "~/detect", self._on_detect, qos_profile=qos,
                                           callback_group=ReentrantCallbackGroup())

    @property
    def waiting(self) -> int:
        """Calls being served now (waiting for a frame or its result)."""
        with self._lock:
            return self._active

    @property
    def counts(self) -> Counter[str]:
        """Calls answered, refused_busy, timed_out, shutdown (a copy)."""
        with self._lock:
            return Counter(self._counts)

    def wake(self) -> None:
        """Wake the executor so that the waiting coroutines look at their requests."""
        with contextlib.suppress(Exception):   # the node is being destroyed: nobody waits
            self._wake_gc.trigger()

    def _enter(self) -> bool:
        """Count a call in, unless ``max_waiting`` wait already (then count it refused)."""
        with self._lock:
            if self._active >= self.max_waiting:
                self._counts["refused_busy"] += 1
                return False
            self._active += 1
            if self._active == 1:
                self._tick.reset()
            return True

    def _leave(self, name: str) -> None:
        """Count a call out under ``name``."""
        with self._lock:
            self._counts[name] += 1
            self._active -= 1
            if self._active == 0:
                self._tick.cancel()

    async def _on_detect(self, request: Trigger.Request, response: Trigger.Response
                         ) -> Trigger.Response:
        """Run on the next fresh frame and answer with a one-line summary of the grasp."""
        if not self._enter():
            response.success = False
            response.message = (f"busy: {self.max_waiting} ~/detect calls wait already "
                                f"(detect.max_waiting); call again when one is answered")
            return response
        name = "error"
        req = self._frames.request()
        try:
            name = await self._wait(req)
        finally:
            self._leave(name)
        response.success, response.message = req.success, req.message
        return response

    async def _wait(self, req: Request) -> str:
        """Wait until ``req`` is answered or withdrawn; the counter it falls under."""
        timeout = self._timeout()
        deadline = time.monotonic() + timeout
        while not req.done.is_set():
            if self._expired(req, deadline) and self._frames.withdraw(req):
                req.success = False
                req.message = (f"the fresh frame was not processed within "
                               f"{FRAME_GRACE_S:.0f} s") if self._frames.fresh_frame_for(req) \
                    else f"no fresh image within {timeout:.1f} s"
                return "timed_out"
            await _NextWake()
        return "shutdown" if req.message == SHUTDOWN_MESSAGE else "answered"

    def _expired(self, req: Request, deadline: float) -> bool:
        """Past the deadline with no fresh frame, or past the deadline and the grace."""
        now = time.monotonic()
        return now >= deadline + FRAME_GRACE_S or (
            now >= deadline and not self._frames.fresh_frame_for(req))
