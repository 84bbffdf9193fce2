"""The executor of the ``executor`` parameter, and the node process's spin loop with its
SIGINT/SIGTERM handling.

``auto`` is ``single``: the callbacks only store messages (inference has its own thread) and
``~/detect`` is a coroutine that frees the thread while it waits, so one thread serves
everything; rclpy's MultiThreadedExecutor costs several times the CPU to deliver the same
images, CPU that inference needs on a small machine. ``events`` falls back to ``single`` where
rclpy has no EventsExecutor (Humble).

The process handles SIGINT and SIGTERM itself (rclpy's handlers shut the context down at
once, and a ``~/detect`` call still waiting could then never be answered): the first signal
ends the spin loop, waiting calls are answered ("the node is shutting down") while the
executor spins a little longer to send the answers, then the node is destroyed.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

from rclpy.executors import Executor, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

#: Seconds between the spin loop's looks at the signal flag (a timer wakes the executor).
SIGNAL_CHECK_S = 0.1
#: Seconds the executor keeps spinning after a signal, at most, to send the last answers.
DRAIN_S = 3.0


def events_executor() -> type[Executor] | None:
    """Rclpy's EventsExecutor class where the installed rclpy has it (not Humble), else None."""
    try:
        from rclpy.experimental import EventsExecutor
    except ImportError:
        return None
    return EventsExecutor   # type: ignore[return-value]


def make_executor(kind: str, context: Any = None) -> tuple[Executor, str]:
    """The executor of the ``executor`` parameter, and the name of what was made."""
    if kind == "events":
        cls = events_executor()
        if cls is not None:
            return cls(context=context), "events"
        kind = "single"
    if kind == "multi":
        return MultiThreadedExecutor(num_threads=2, context=context), "multi"
    return SingleThreadedExecutor(context=context), "single"


class ShutdownSignals:
    """SIGINT and SIGTERM as a flag: :attr:`received` names the first signal, else ''.

    Before :meth:`arm` a signal raises KeyboardInterrupt (a stop during start-up).
    """

    def __init__(self) -> None:
        """Install the handlers for SIGINT and SIGTERM."""
        self.received = ""
        self._armed = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def arm(self) -> None:
        """From now on a signal only sets the flag (the spin loop looks at it)."""
        self._armed = True

    def _handle(self, signum: int, _frame: Any) -> None:
        if not self._armed:
            raise KeyboardInterrupt
        self.received = self.received or signal.Signals(signum).name


def spin_until_signal(executor: Executor, node: Node, signals: ShutdownSignals,
                      stop: Callable[[], None], busy: Callable[[], bool]) -> None:
    """Spin until a signal (or the context's end); then ``stop()`` (answer waiting calls) and
    spin until ``busy()`` is false, at most :data:`DRAIN_S` seconds.
    """
    tick = node.create_timer(SIGNAL_CHECK_S, lambda: None)   # back to Python: the flag
    signals.arm()
    while not signals.received and node.context.ok():
        executor.spin_once()
    node.get_logger().info(f"{signals.received or 'context shut down'}: stopping")
    stop()
    end = time.monotonic() + DRAIN_S
    while busy() and node.context.ok() and time.monotonic() < end:
        executor.spin_once(timeout_sec=SIGNAL_CHECK_S)
    for _ in range(3):          # the answers of the last coroutines leave with these spins
        if node.context.ok():
            executor.spin_once(timeout_sec=0.01)
    node.destroy_timer(tick)
