"""Live replay into a real rclpy graph: stamps, late joiners on latched topics, rate, ROS 1."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from bag_fixtures import make_bag, read_topic
from conftest import REPO, ROS1_BAGS, subprocess_env
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import String

from mtg_grasp_ros.bags import (
    IMAGE,
    TF_MESSAGE,
    TF_STATIC,
    BagWriter,
)
from mtg_grasp_ros.bags.sample import (
    LOOKING_DOWN,
    image_msg,
    tf_msg,
    toy_table_frames,
)
from mtg_grasp_ros.ros.replay import BagPlayer, ReplayOptions, qos_for

pytestmark = pytest.mark.ros
LATCHED = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)

try:
    from tf2_msgs.msg import TFMessage
except ImportError:
    TFMessage = None


@pytest.fixture
def ros():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("replay_test", context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    yield node, executor
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def spin_until(executor, done, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not done() and time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
    return done()


def stamp(msg) -> tuple[int, int]:
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


def test_tf_static_is_always_transient_local():
    q = qos_for(TF_STATIC, TF_MESSAGE, latched=False, count=3)
    assert q.durability == DurabilityPolicy.TRANSIENT_LOCAL and q.depth == 3
    q = qos_for("/camera/image_raw", IMAGE, latched=False, count=100)
    assert q.durability == DurabilityPolicy.VOLATILE and q.reliability == \
        ReliabilityPolicy.RELIABLE


def test_cli_replay_delivers_images_with_bag_stamps(tmp_path, ros):
    node, executor = ros
    bag = make_bag(tmp_path / "bag", frames=8, fps=10.0, storage="mcap")
    got: list[Image] = []
    clock: list[int] = []
    node.create_subscription(Image, "/camera/image_raw", got.append, 10)
    node.create_subscription(Clock, "/clock", lambda m: clock.append(
        m.clock.sec * 10**9 + m.clock.nanosec), 100)
    env = subprocess_env()
    proc = subprocess.Popen([sys.executable, "-m", "mtg_grasp_ros.cli", "replay", str(bag),
                             "--start-delay", "0.5", "--clock", "--wait-for",
                             "/camera/image_raw", "/clock"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    spin_until(executor, lambda: len(got) == 8 or proc.poll() is not None, 60)
    spin_until(executor, lambda: len(got) == 8, 2)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    expected = read_topic(bag, "/camera/image_raw")
    assert [stamp(m) for m in got] == [stamp(m) for _, m, _ in expected]
    assert bytes(got[3].data) == bytes(expected[3][1].data)
    assert "/camera/image_raw: 8 messages" in out
    # /clock follows the bag's log times (images and camera_info share them here); the last
    # tick may still be in flight when the last image has arrived, so spin until it is in.
    spin_until(executor, lambda: len(set(clock)) >= len(expected), 10)
    assert sorted(set(clock)) == [t for t, _, _ in expected]


def write_latched_bag(path) -> None:
    """Images over 2 s, a latched note and /tf_static (transient-local) at the start."""
    frames = list(toy_table_frames(10, fps=5.0))
    with BagWriter(path) as bag:
        bag.topic("/note", "std_msgs/msg/String", latched=True, depth=1)
        bag.topic(TF_STATIC, TF_MESSAGE, latched=True, depth=1)
        bag.topic("/camera/image_raw", IMAGE)
        t0 = frames[0].stamp_ns
        bag.write_msg("/note", t0, bag.typestore.types["std_msgs/msg/String"](data="hello"))
        bag.write_msg(TF_STATIC, t0, tf_msg(bag.typestore, LOOKING_DOWN, "world", "cam", t0))
        for f in frames:
            bag.write_msg("/camera/image_raw", f.stamp_ns, image_msg(bag.typestore, f))


def play_in_thread(node, bag, opts) -> tuple[BagPlayer, threading.Thread, dict]:
    player = BagPlayer(node, bag, opts, log=lambda s: None)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(stats=player.play()))
    thread.start()
    return player, thread, result


def test_late_joiner_receives_latched_topics(tmp_path, ros):
    node, executor = ros
    write_latched_bag(tmp_path / "bag")
    player, thread, result = play_in_thread(node, tmp_path / "bag",
                                            ReplayOptions(start_delay=0.2))
    try:
        time.sleep(1.0)    # the latched messages went out ~0.8 s ago
        notes, statics, images = [], [], []
        node.create_subscription(String, "/note", notes.append, LATCHED)
        node.create_subscription(Image, "/camera/image_raw", images.append, 10)
        if TFMessage is not None:
            node.create_subscription(TFMessage, TF_STATIC, statics.append, LATCHED)
        assert spin_until(executor, lambda: notes and (TFMessage is None or statics), 5)
        spin_until(executor, lambda: not thread.is_alive(), 10)
    finally:
        thread.join(10)
        player.close()
    assert [n.data for n in notes] == ["hello"]
    # the late joiner missed the first images (volatile) but got the rest
    assert 0 < len(images) < 10
    if TFMessage is None:
        assert "tf2_msgs" in player.stats.skipped[TF_STATIC]
    else:
        assert statics[0].transforms[0].child_frame_id == "cam"
    assert result["stats"].published["/note"] == 1


def test_rate_scales_playing_time(tmp_path, ros):
    node, executor = ros
    bag = make_bag(tmp_path / "bag", frames=10, fps=2.0)    # 4.5 s of recording
    arrivals: list[float] = []
    node.create_subscription(Image, "/camera/image_raw",
                             lambda m: arrivals.append(time.monotonic()), 10)
    player, thread, result = play_in_thread(node, bag, ReplayOptions(rate=4.0,
                                                                     start_delay=1.0))
    try:
        spin_until(executor, lambda: len(arrivals) == 10, 20)
    finally:
        thread.join(10)
        player.close()
    stats = result["stats"]
    assert stats.bag_seconds == pytest.approx(4.5)
    assert 4.5 / 4 * 0.95 <= stats.seconds <= 4.5 / 4 + 0.5
    assert len(arrivals) == 10
    gaps = np.diff(arrivals)
    assert arrivals[-1] - arrivals[0] == pytest.approx(4.5 / 4, abs=0.4)
    assert np.median(gaps) == pytest.approx(0.5 / 4, abs=0.06)


def test_ros1_bag_replays_as_ros2_messages(ros):
    bag = ROS1_BAGS / "fiducial_board_611.bag"
    if not bag.is_file():
        pytest.skip(f"{bag} not found")
    node, executor = ros
    infos, images = [], []
    node.create_subscription(CameraInfo, "/raspicam_node/camera/camera_info", infos.append, 100)
    node.create_subscription(CompressedImage, "/raspicam_node/camera/image/compressed",
                             images.append, 10)
    player, thread, result = play_in_thread(node, bag, ReplayOptions(start_delay=1.0))
    try:
        spin_until(executor, lambda: len(infos) == 32 and images, 15)
    finally:
        thread.join(10)
        player.close()
    recorded = read_topic(bag, "/raspicam_node/camera/camera_info")
    assert [stamp(m) for m in infos] == [stamp(m) for _, m, _ in recorded]
    assert np.allclose(infos[0].k, recorded[0][1].K) and infos[0].distortion_model == \
        "plumb_bob"
    (img,) = images
    (_, rec_img, _), = read_topic(bag, "/raspicam_node/camera/image/compressed")
    assert stamp(img) == stamp(rec_img) and bytes(img.data) == bytes(rec_img.data)


def test_loop_remap_and_stop(tmp_path, ros):
    node, executor = ros
    bag = make_bag(tmp_path / "bag", frames=3, fps=10.0)
    got: list[Image] = []
    node.create_subscription(Image, "/renamed/image", got.append, 10)
    player, thread, result = play_in_thread(node, bag, ReplayOptions(
        rate=2.0, loop=True, topics=("camera/image_raw",), start_delay=1.0,
        remap={"/camera/image_raw": "/renamed/image"}))
    try:
        spin_until(executor, lambda: len(got) >= 7, 20)
    finally:
        player.stop()
        thread.join(10)
        player.close()
    assert not thread.is_alive() and result["stats"].loops >= 2
    assert set(result["stats"].published) == {"/renamed/image"}
    first = [stamp(m) for m in got[:3]]
    assert [stamp(m) for m in got[3:6]] == first and len(set(first)) == 3


def test_ctrl_c_on_a_looping_replay_stops_cleanly(ros):
    # many SIGINTs at random points of a fast loop (so many land inside rclpy's or rosbags'
    # C++, where a KeyboardInterrupt used to surface as a TypeError or RCLError): each stops
    # play() between messages, with no exception
    import os
    import random
    import signal

    node, _ = ros
    bag = REPO / "bags" / "sample_table"
    rng = random.Random(0)
    before = signal.getsignal(signal.SIGINT)
    for _ in range(12):
        player = BagPlayer(node, bag, ReplayOptions(rate=200.0, loop=True, start_delay=0.0),
                           log=lambda s: None)
        timer = threading.Timer(rng.uniform(0.05, 0.4), os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            stats = player.play(ctrl_c_stops=True)
        finally:
            timer.join()
            player.close()
        assert player.interrupted and sum(stats.published.values()) > 0
    assert signal.getsignal(signal.SIGINT) is before    # restored


def test_ctrl_c_on_mtg_grasp_replay_loop_prints_the_summary():
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "mtg_grasp_ros.cli", "replay", "--loop", "--rate", "50",
         "--start-delay", "0", str(REPO / "bags" / "sample_table")], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env=subprocess_env(), cwd=REPO,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:          # wait until it plays
        lines.append(line)
        if line.startswith("playing"):
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out = "".join(lines) + proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, out
    assert "Traceback" not in out and "stopped" in out, out
    assert "played" in out and "/camera/image_raw:" in out, out


def test_corrupt_message_is_skipped_and_an_empty_bag_lasts_zero_seconds(tmp_path, ros):
    node, executor = ros
    frames = list(toy_table_frames(3))
    with BagWriter(tmp_path / "bag") as bag:
        bag.topic("/camera/image_raw", IMAGE)
        for i, f in enumerate(frames):
            raw = bag.typestore.serialize_cdr(image_msg(bag.typestore, f), IMAGE)
            bag.write("/camera/image_raw", f.stamp_ns, bytes(raw[:100]) if i == 1 else raw)
    got: list = []
    node.create_subscription(Image, "/camera/image_raw", got.append, 10)
    player, thread, result = play_in_thread(node, tmp_path / "bag",
                                            ReplayOptions(start_delay=0.5))
    try:
        spin_until(executor, lambda: len(got) == 2 and not thread.is_alive(), 20)
    finally:
        thread.join(10)
        player.close()
    stats = result["stats"]
    assert stats.published["/camera/image_raw"] == 2 and len(got) == 2
    assert stats.undecodable == {"/camera/image_raw": 1}
    # an empty bag: 0 s, not -9.2e9 s
    with BagWriter(tmp_path / "empty") as bag:
        bag.topic("/camera/image_raw", IMAGE)
    player = BagPlayer(node, tmp_path / "empty", ReplayOptions(start_delay=0.0),
                       log=lambda s: None)
    try:
        assert player.stats.bag_seconds == 0.0
        assert player.play().loops == 1
    finally:
        player.close()
