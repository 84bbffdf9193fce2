"""The node's /diagnostics status: level and message from what happened recently, and the
counters, timings and settings a person or a monitor reads.

A bad frame keeps the status at WARN (or ERROR, for a failing network) for
:func:`hold_seconds` after it or until a frame is processed, so that a stream of bad frames,
some of which fall between two messages, does not flip the status between OK and WARN.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from .stats import NodeStats

#: Bad-frame reasons that mean the network itself fails (ERROR, not WARN).
ERROR_REASONS = {"model_output_not_finite": "model output not finite",
                 "inference_error": "inference failing", "internal_error": "inference failing"}


def hold_seconds(period: float) -> float:
    """How long a bad frame keeps the status at WARN: three diagnostics periods, at least 5 s."""
    return max(5.0, 3.0 * period)


@dataclass
class Condition:
    """What the status is made of, gathered by the node for one message."""

    recent: Counter[str]                 # bad frames by reason since the last message
    held: set[str]                       # bad-frame reasons seen within the hold time
    stalled: str = ""                    # the image-stall warning, if any
    fallbacks: int = 0                   # latest-transform fallbacks since the last message
    values: dict[str, str] = field(default_factory=dict)


def level_and_message(c: Condition) -> tuple[bytes, str]:
    """The status level and one-line message of a condition."""
    errors = [ERROR_REASONS[r] for r in sorted(c.held) if r in ERROR_REASONS]
    if errors:
        return DiagnosticStatus.ERROR, errors[0]
    if c.stalled:
        return DiagnosticStatus.WARN, c.stalled
    if c.held:
        return DiagnosticStatus.WARN, (f"bad frames ({', '.join(sorted(c.held))}), "
                                       f"{sum(c.recent.values())} since the last report")
    if c.fallbacks:
        return DiagnosticStatus.WARN, (f"{c.fallbacks} camera poses from the latest transform, "
                                       f"not the image stamp's (tf.timeout too short?)")
    return DiagnosticStatus.OK, "ok"


def stats_values(stats: NodeStats) -> dict[str, str]:
    """Frame counters, bad frames and their last messages, rates and timings (ms)."""
    values = {f"frames_{k}": str(v) for k, v in sorted(stats.counts.items())}
    values.update({f"bad_frames.{k}": str(v) for k, v in sorted(stats.bad.items())})
    values.update({f"last_error.{k}": v for k, v in sorted(stats.last_error.items())})
    values.update({k[:-2] + "_ms" if k.endswith("_s") else k:
                   f"{v * 1e3:.2f}" if k.endswith("_s") else f"{v:.2f}"
                   for k, v in stats.summary().items()})
    return values


def detect_values(waiting: int, limit: int, counts: Counter[str]) -> dict[str, str]:
    """The ``~/detect`` calls waiting now, the limit, and how the others were answered."""
    values = {"detect_waiting": str(waiting), "detect_max_waiting": str(limit)}
    values.update({f"detect_{k}": str(counts[k])
                   for k in ("answered", "timed_out", "refused_busy", "shutdown")})
    return values


def status(name: str, hardware_id: str, c: Condition) -> DiagnosticStatus:
    """The DiagnosticStatus of a condition."""
    level, message = level_and_message(c)
    return DiagnosticStatus(name=name, hardware_id=hardware_id, level=level, message=message,
                            values=[KeyValue(key=k, value=v) for k, v in c.values.items()])
