"""The node's counters and timings, with their own lock (read by diagnostics and the bench)."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter

import numpy as np

from ..pipeline import STAGES

#: A bad input of one kind is logged at most once per this many seconds.
LOG_PERIOD_S = 10.0
#: How many of the latest values of each timing are kept (for medians and percentiles).
HISTORY = 2000


class Ring:
    """The last ``size`` floats in a preallocated array, so that a node's memory does not
    grow as its timing history fills (a deque holds a Python object per value).
    """

    def __init__(self, size: int) -> None:
        """An empty ring of ``size`` float64 values."""
        self._values = np.zeros(size, dtype=np.float64)
        self._n = 0          # values appended since the last clear

    def append(self, value: float) -> None:
        """Keep ``value``, forgetting the oldest when full."""
        self._values[self._n % self._values.size] = value
        self._n += 1

    def clear(self) -> None:
        """Forget every value."""
        self._n = 0

    def __len__(self) -> int:
        return min(self._n, self._values.size)

    def values(self) -> np.ndarray:
        """A copy of the kept values, oldest first."""
        size = self._values.size
        if self._n <= size:
            return self._values[:self._n].copy()
        cut = self._n % size
        return np.concatenate((self._values[cut:], self._values[:cut]))


class NodeStats:
    """Frame counts, bad frames by reason, per-stage times, latencies; thread-safe."""

    def __init__(self, history: int = HISTORY) -> None:
        """Keep the last ``history`` values of each timing."""
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()       # received, processed, dropped, ...
        self._bad: Counter[str] = Counter()          # bad frames by reason
        self._last_error: dict[str, str] = {}
        self._bad_reported: Counter[str] = Counter()
        self._counts_reported: Counter[str] = Counter()
        self._logged_at: dict[str, float] = {}
        self._bad_at: dict[str, float] = {}          # when each reason was last seen
        self._good_at = -math.inf                    # when the last frame was processed
        self._stages = {s: Ring(history) for s in STAGES}
        self._latencies = Ring(history)
        self._done_at = Ring(history)

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a frame counter."""
        with self._lock:
            self._counts[name] += n

    def bad_frame(self, reason: str, message: str) -> bool:
        """Count a bad frame; True when it is due to be logged (first, then every 10 s)."""
        with self._lock:
            self._bad[reason] += 1
            self._last_error[reason] = message
            self._bad_at[reason] = time.monotonic()
        return self.due_to_log(reason)

    def due_to_log(self, kind: str) -> bool:
        """True when a message of ``kind`` is due to be logged (first, then every 10 s)."""
        with self._lock:
            now = time.monotonic()
            due = now - self._logged_at.get(kind, -math.inf) >= LOG_PERIOD_S
            if due:
                self._logged_at[kind] = now
            return due

    def frame_done(self, timings: dict[str, float], latency: float | None) -> None:
        """Record one processed frame's stage times and stamp-to-published latency."""
        with self._lock:
            for name, value in timings.items():
                if name in self._stages:
                    self._stages[name].append(value)
            if latency is not None:
                self._latencies.append(latency)
            self._done_at.append(time.monotonic())
            self._good_at = time.monotonic()

    @property
    def counts(self) -> Counter[str]:
        """A copy of the frame counters."""
        with self._lock:
            return Counter(self._counts)

    @property
    def bad(self) -> Counter[str]:
        """A copy of the bad-frame counts by reason."""
        with self._lock:
            return Counter(self._bad)

    @property
    def last_error(self) -> dict[str, str]:
        """The last message of each bad-frame reason."""
        with self._lock:
            return dict(self._last_error)

    def stage_times(self, stage: str) -> list[float]:
        """The recorded times of one stage (seconds), oldest first."""
        with self._lock:
            return self._stages[stage].values().tolist()

    def latencies(self) -> list[float]:
        """Recorded stamp-to-published latencies (seconds)."""
        with self._lock:
            return self._latencies.values().tolist()

    def clear_timings(self) -> None:
        """Forget stage times and latencies (e.g. after a warm-up)."""
        with self._lock:
            for values in self._stages.values():
                values.clear()
            self._latencies.clear()

    def bad_since_last_report(self) -> Counter[str]:
        """Bad frames by reason since the previous call (for one diagnostics message)."""
        with self._lock:
            recent = self._bad - self._bad_reported
            self._bad_reported = Counter(self._bad)
            return recent

    def bad_reasons_within(self, seconds: float) -> set[str]:
        """The bad-frame reasons seen in the last ``seconds`` and since the last processed
        frame (diagnostics hold a warning that long, so that a stream of bad frames does not
        flip them between OK and WARN; a good frame ends it).
        """
        with self._lock:
            now = time.monotonic()
            return {r for r, t in self._bad_at.items()
                    if now - t <= seconds and t > self._good_at}

    def count_since_last_report(self, name: str) -> int:
        """Increase of one frame counter since the previous call for it (for diagnostics)."""
        with self._lock:
            n = self._counts[name] - self._counts_reported[name]
            self._counts_reported[name] = self._counts[name]
            return n

    def summary(self) -> dict[str, float]:
        """Rate over the last 5 s, latency and per-stage medians and p95 (seconds)."""
        with self._lock:
            done = self._done_at.values()
            series = [("latency", self._latencies.values()),
                      *((k, v.values()) for k, v in self._stages.items())]
        now = time.monotonic()
        recent = done[now - done <= 5.0]
        rate = float((recent.size - 1) / (recent[-1] - recent[0])) if recent.size > 1 and \
            recent[-1] > recent[0] else 0.0
        out = {"rate_hz": rate}
        for name, values in series:
            v = values[-300:]
            if v.size:
                out[f"{name}_median_s"] = float(np.median(v))
                out[f"{name}_p95_s"] = float(np.percentile(v, 95))
        return out


#: Seconds without an image while a publisher is matched before the node warns.
STALL_S = 3.0


class ArrivalWatch:
    """Notices an input topic that has publishers but delivers nothing (e.g. large frames over
    best-effort QoS that the transport drops whole): thread-safe, no ROS.

    :meth:`arrived` on every message; :meth:`check` with the topic's current publisher count
    (from the diagnostics timer) says for how long nothing has arrived although a publisher
    was there, once that exceeds ``stall_s``; :meth:`restart` after re-subscribing.
    """

    def __init__(self, stall_s: float = STALL_S) -> None:
        """Warn after ``stall_s`` seconds of silence."""
        self.stall_s = stall_s
        self._lock = threading.Lock()
        self._last: float | None = None          # the last arrival (monotonic)
        self._publishers_since: float | None = None

    def arrived(self) -> None:
        """A message arrived."""
        with self._lock:
            self._last = time.monotonic()

    def restart(self) -> None:
        """Count silence from now (e.g. a new subscription)."""
        with self._lock:
            self._publishers_since = time.monotonic() if self._publishers_since else None

    def check(self, publishers: int, now: float | None = None) -> float | None:
        """Seconds of silence while publishers were matched, when over ``stall_s``; else None."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if publishers <= 0:
                self._publishers_since = None
                return None
            if self._publishers_since is None:
                self._publishers_since = now
            silent = now - max(self._publishers_since, self._last or -math.inf)
        return silent if silent > self.stall_s else None
