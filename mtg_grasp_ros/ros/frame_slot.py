"""The newest-frame slot and the ``~/detect`` request hand-over, without ROS.

The node's subscription callback puts each image into a one-frame :class:`FrameSlot` (an
older, unprocessed one is replaced and counted as dropped); the inference thread takes the
frame when it is ready to run: always in ``continuous`` mode, and in ``on_request`` mode only
when a ``~/detect`` request waits for a frame received after it. The thread hands the result
back to every request that frame answers. Plain threading, so it is tested without a graph.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: The answer of a ``~/detect`` request that was waiting when the node shut down.
SHUTDOWN_MESSAGE = "the node is shutting down"


@dataclass
class Frame:
    """An image message and its arrival number."""

    msg: Any
    seq: int


@dataclass
class Request:
    """A ~/detect call waiting for the first frame received after it (seq > after_seq)."""

    after_seq: int
    done: threading.Event = field(default_factory=threading.Event)
    success: bool = False
    message: str = ""


class FrameSlot:
    """One waiting frame, the open requests, and the condition that wakes the worker."""

    def __init__(self, continuous: Callable[[], bool]) -> None:
        """``continuous()`` says whether every frame runs (else only requested ones)."""
        self._continuous = continuous
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._seq = 0
        self._requests: list[Request] = []
        self._stopping = False

    # -- the subscription side -------------------------------------------------------------------

    def put(self, msg: Any) -> bool:
        """Store the newest frame; True when it replaced one still waiting in continuous mode
        (a dropped frame).
        """
        with self._cond:
            self._seq += 1
            dropped = self._frame is not None and self._continuous()
            self._frame = Frame(msg, self._seq)
            self._cond.notify_all()
            return dropped

    @property
    def waiting(self) -> bool:
        """Whether a frame waits in the slot."""
        with self._cond:
            return self._frame is not None

    # -- the ~/detect side -----------------------------------------------------------------------

    def request(self) -> Request:
        """Open a request answered by the next frame received from now on (at once, and
        unsuccessfully, when the slot is stopping).
        """
        with self._cond:
            req = Request(self._seq)
            if self._stopping:
                req.message = SHUTDOWN_MESSAGE
                req.done.set()
                return req
            self._requests.append(req)
            self._cond.notify_all()
            return req

    def wait(self, req: Request, timeout: float) -> bool:
        """Wait up to ``timeout`` s for ``req``'s answer; on timeout the request is withdrawn.

        :meth:`stop` answers every waiting request at once (unsuccessful), so that a service
        call never holds an executor thread past shutdown.
        """
        if req.done.wait(timeout):
            return True
        with self._cond:
            if req in self._requests:
                self._requests.remove(req)
        return req.done.is_set()

    def withdraw(self, req: Request) -> bool:
        """Take ``req`` back unanswered; False when it was answered first."""
        with self._cond:
            if req in self._requests:
                self._requests.remove(req)
                return True
        return False

    def fresh_frame_for(self, req: Request) -> bool:
        """Whether a frame received after ``req`` was opened is waiting or on its way (it
        answers ``req`` when its processing ends).
        """
        with self._cond:
            return self._seq > req.after_seq

    @property
    def pending_requests(self) -> int:
        """Requests waiting for a frame."""
        with self._cond:
            return len(self._requests)

    # -- the worker side -------------------------------------------------------------------------

    def _ready(self) -> bool:
        if self._frame is None:
            return False
        return self._continuous() or any(self._frame.seq > r.after_seq for r in self._requests)

    def take(self, timeout: float = 0.5) -> Frame | None:
        """The frame to run now, or None after ``timeout`` s or when stopping."""
        with self._cond:
            self._cond.wait_for(lambda: self._stopping or self._ready(), timeout=timeout)
            if self._stopping or not self._ready():
                return None
            frame, self._frame = self._frame, None
            return frame

    def answer(self, frame: Frame, success: bool, message: str) -> int:
        """Hand the result of ``frame`` to every request it answers; how many."""
        with self._cond:
            done = [r for r in self._requests if frame.seq > r.after_seq]
            self._requests = [r for r in self._requests if r not in done]
        for r in done:
            r.success, r.message = success, message
            r.done.set()
        return len(done)

    def wake(self) -> None:
        """Re-check readiness now (e.g. after a mode change)."""
        with self._cond:
            self._cond.notify_all()

    def stop(self) -> None:
        """Make :meth:`take` return None from now on, and release every waiting request
        (unsuccessful, :data:`SHUTDOWN_MESSAGE`).
        """
        with self._cond:
            self._stopping = True
            pending, self._requests = self._requests, []
            self._cond.notify_all()
        for r in pending:
            r.success, r.message = False, SHUTDOWN_MESSAGE
            r.done.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopping
