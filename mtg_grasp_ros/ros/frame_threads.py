"""The node's two frame threads: the inference thread takes the newest frame from the slot
and runs the first half of the pipeline (conversion, preprocessing, the network); the
publishing thread runs the second half (postprocessing, projection, publishing), so that the
next frame's network starts while this one is published. At most one frame waits between
them; the newest-frame rule stays the slot's. A frame that fails is reported and answered,
and the threads go on.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, Generic, TypeVar

from ..pipeline import FrameError
from .frame_slot import Frame, FrameSlot

_S = TypeVar("_S")


class FrameThreads(Generic[_S]):
    """Runs ``start(frame)`` in one thread and ``finish(frame, started)`` in another."""

    def __init__(self, frames: FrameSlot, start: Callable[[Frame], _S],
                 finish: Callable[[Frame, _S], str],
                 fail: Callable[[Frame, str, str], None],
                 done: Callable[[Frame, str], None]) -> None:
        """``fail(frame, reason, message)`` for a failed frame, ``done(frame, summary)`` for a
        published one.
        """
        self._frames, self._start, self._finish = frames, start, finish
        self._fail, self._done = fail, done
        self._handoff: queue.Queue[tuple[Frame, _S] | None] = queue.Queue(maxsize=1)
        self._worker = threading.Thread(target=self._run_worker, name="grasp_inference",
                                        daemon=True)
        self._finisher = threading.Thread(target=self._run_finisher, name="grasp_publish",
                                          daemon=True)

    def start(self) -> None:
        """Start both threads."""
        self._finisher.start()
        self._worker.start()

    @property
    def alive(self) -> bool:
        """Whether both threads run."""
        return self._worker.is_alive() and self._finisher.is_alive()

    def join(self, timeout: float = 5.0) -> None:
        """Wait for both threads (after the slot was stopped); the worker's end ends the other."""
        for thread in (self._worker, self._finisher):
            if thread.is_alive():
                thread.join(timeout=timeout)

    def _run_worker(self) -> None:
        while not self._frames.stopping:
            frame = self._frames.take()
            if frame is None:
                continue
            started = self._guarded(frame, partial(self._start, frame))
            if started is not None:
                self._handoff.put((frame, started))
        self._handoff.put(None)

    def _run_finisher(self) -> None:
        while (item := self._handoff.get()) is not None:
            frame, started = item
            summary = self._guarded(frame, partial(self._finish, frame, started))
            if summary is not None:
                self._done(frame, summary)

    def _guarded(self, frame: Frame, work: Callable[[], Any]) -> Any:
        """``work()``; a frame it fails on is reported by reason and answered, and None."""
        try:
            return work()
        except FrameError as exc:
            self._fail(frame, exc.reason, str(exc))
        except Exception as exc:  # noqa: BLE001 - the node must survive anything
            self._fail(frame, "internal_error", f"internal error: {exc!r}")
        return None
