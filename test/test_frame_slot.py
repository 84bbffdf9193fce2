"""The node's newest-frame slot and ~/detect hand-over, without a ROS graph (plain threads)."""

from __future__ import annotations

import threading

import pytest

from mtg_grasp_ros.ros.frame_slot import FrameSlot


def test_continuous_keeps_only_the_newest_frame_and_counts_drops():
    slot = FrameSlot(lambda: True)
    assert slot.put("a") is False           # nothing waited
    assert slot.put("b") is True            # "a" dropped unprocessed
    assert slot.put("c") is True
    frame = slot.take(timeout=0.1)
    assert frame is not None and frame.msg == "c" and frame.seq == 3
    assert not slot.waiting and slot.take(timeout=0.05) is None


def test_on_request_runs_only_a_frame_received_after_the_request():
    slot = FrameSlot(lambda: False)
    assert slot.put("old") is False         # on_request: replacing is not a drop
    assert slot.take(timeout=0.05) is None  # no request: the frame waits
    req = slot.request()
    assert slot.pending_requests == 1
    assert slot.take(timeout=0.05) is None  # "old" came before the request
    slot.put("new")
    frame = slot.take(timeout=0.1)
    assert frame is not None and frame.msg == "new"
    assert slot.answer(frame, True, "grasp at ...") == 1
    assert req.done.is_set() and req.success and req.message == "grasp at ..."
    assert slot.pending_requests == 0


def test_request_waits_for_the_worker_and_times_out_without_a_frame():
    slot = FrameSlot(lambda: False)
    req = slot.request()
    assert slot.wait(req, 0.05) is False and slot.pending_requests == 0   # withdrawn

    req = slot.request()

    def worker() -> None:
        frame = slot.take(timeout=5.0)
        assert frame is not None
        slot.answer(frame, False, "no grasp found")

    t = threading.Thread(target=worker)
    t.start()
    slot.put("frame")
    assert slot.wait(req, 5.0) is True
    t.join(timeout=5.0)
    assert not req.success and req.message == "no grasp found"


def test_one_frame_answers_every_request_made_before_it():
    slot = FrameSlot(lambda: False)
    first, second = slot.request(), slot.request()
    slot.put("frame")
    later = slot.request()                  # after the frame: needs the next one
    frame = slot.take(timeout=0.1)
    assert frame is not None
    assert slot.answer(frame, True, "ok") == 2
    assert first.done.is_set() and second.done.is_set() and not later.done.is_set()


def test_mode_change_wakes_the_worker_and_stop_ends_it():
    mode = {"continuous": False}
    slot = FrameSlot(lambda: mode["continuous"])
    slot.put("frame")
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(slot.take(timeout=5.0)))
    t.start()
    mode["continuous"] = True
    slot.wake()
    t.join(timeout=5.0)
    assert got and got[0] is not None and got[0].msg == "frame"
    slot.stop()
    assert slot.stopping and slot.take(timeout=5.0) is None


def test_stop_releases_waiting_requests_at_once():
    """A ~/detect call waiting with a long timeout ends when the node stops (issue 13.1)."""
    import time

    from mtg_grasp_ros.ros.frame_slot import SHUTDOWN_MESSAGE

    slot = FrameSlot(lambda: False)
    results = []
    req = slot.request()
    waiter = threading.Thread(target=lambda: results.append(slot.wait(req, 120.0)))
    waiter.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    slot.stop()
    waiter.join(5.0)
    assert not waiter.is_alive() and time.monotonic() - t0 < 1.0
    assert results == [True] and not req.success and req.message == SHUTDOWN_MESSAGE
    assert slot.pending_requests == 0
    late = slot.request()                   # a call after stop is answered at once, too
    assert slot.wait(late, 120.0) and not late.success


def test_arrival_watch_warns_only_while_publishers_deliver_nothing():
    from mtg_grasp_ros.ros.stats import ArrivalWatch

    w = ArrivalWatch(stall_s=3.0)
    assert w.check(0, now=100.0) is None            # nobody publishes: nothing to say
    assert w.check(1, now=101.0) is None            # a publisher appears: the clock starts
    assert w.check(1, now=103.9) is None
    assert w.check(1, now=104.5) == 3.5             # 3.5 s matched, nothing arrived
    w.arrived()                                     # (monotonic now, far past 104.5 here)
    import time
    now = time.monotonic()
    assert w.check(1, now=now + 1.0) is None
    assert w.check(1, now=now + 4.0) == pytest.approx(4.0, abs=0.1)
    assert w.check(0, now=now + 5.0) is None        # the publisher left: no warning
