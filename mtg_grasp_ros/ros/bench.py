"""The bench behind ``mtg_grasp bench``: per-stage and end-to-end timings of the node, as JSON.

Runs the real node in a real rclpy graph (publisher -> node -> subscriber, one process):

1. latency: frames sent one at a time; per stage (conversion, preprocess, network,
   postprocess, projection, publishing) and end to end (image stamp to poses received by the
   subscriber; and to poses published, as the node measures it) median and p95; after each
   frame, with the node idle, the bare detector (``GraspDetector.detect`` on the same image in
   the same process, in a worker thread as the node's inference runs: in the main thread glibc
   trims the heap after each run and the network's buffers fault in again), so the ratios
   compare like with like;
2. keep-up: a camera at ``rate`` Hz for ``duration`` s, published by a separate process
   (as a camera driver is); rate achieved, frames dropped, latency, and the node process's
   resident memory before and after, and what the phase left allocated (C heap in use,
   Python blocks: :func:`heap_growth`); with ``soak`` seconds instead, also the resident
   memory every twentieth of it and its growth after warm-up;
3. the bare detector beside the camera: the same camera process for ``duration`` s, half
   just before phase 2 and half just after, while the node only receives (``mode:
   on_request``) and the bare detector runs back to back, so that "possible" in the keep-up
   ratio is measured with the camera's load on the machine (a linear drift cancels).

The top-level ``ratios``: ``end_to_end_over_detector`` (median image stamp -> poses
published over the median bare ``detect`` of phase 1), ``end_to_end_p95_over_median``,
``keep_up_over_possible`` (rate processed over min(camera rate, 1 / bare detect median beside
the camera, phase 3); ``keep_up_over_possible_idle`` divides by phase 1's bare median instead)
and ``non_network_over_network`` (the medians of the other stages over the network's).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import operator
import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..projection import CameraModel

if TYPE_CHECKING:
    from ..detector import GraspDetector
    from ..settings import Settings


def _rss_mib() -> float:
    """This process's resident memory, MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _heap_state() -> tuple[int | None, int]:
    """Bytes of C heap in use and Python's allocated blocks, after a full collection: read
    before and after the keep-up phase, with no frame in flight.
    """
    from .process_setup import heap_in_use

    gc.collect()
    return heap_in_use(), sys.getallocatedblocks()


def heap_growth(before: tuple[int | None, int], after: tuple[int | None, int]
                ) -> dict[str, float | int]:
    """What the keep-up phase left allocated: C heap in use (KiB; glibc only) and Python blocks.

    Unlike the resident size, these count only what is still held, not what the allocator
    keeps for reuse or loses to fragmentation: a leak shows here, a fragmented heap does not.
    """
    out: dict[str, float | int] = {"python_blocks_growth": after[1] - before[1]}
    if before[0] is not None and after[0] is not None:
        out["heap_in_use_mib_before"] = round(before[0] / 2**20, 1)
        out["heap_in_use_growth_kib"] = round((after[0] - before[0]) / 1024, 1)
    return out


def _summary(values: Iterable[float]) -> dict[str, float]:
    v = np.asarray(list(values), dtype=np.float64) * 1e3
    if not v.size:
        return {"n": 0}
    return {"n": int(v.size), "median_ms": round(float(np.median(v)), 3),
            "p95_ms": round(float(np.percentile(v, 95)), 3)}


def _model_path(arg: str, tmp: Path) -> tuple[str, str]:
    """The model to time: the given or bundled file, else GG-CNN2 with random weights whose Q
    is lifted above 0 so that every frame yields grasps to project and publish.
    """
    import torch

    from ..model import build_model
    from ..model_io import save_model
    from ..resources import default_model_path

    path = arg or str(default_model_path())
    if Path(path).is_file():
        return path, path
    net = build_model("ggcnn2", None)
    with torch.no_grad():
        for head, value in (("q", 5.0), ("width", 0.2)):
            bias = net.heads[head].bias
            assert isinstance(bias, torch.Tensor)
            bias.fill_(value)
    random_path = tmp / "random_ggcnn2.safetensors"
    save_model(net, random_path)
    return str(random_path), "random weights (no model file found; same network, same cost)"


def _scene(width: int, height: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(0)
    img = rng.integers(60, 120, (height, width, 3), dtype=np.uint8)
    for _ in range(6):
        c = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(img, c, int(rng.integers(10, height // 6)), tuple(int(x) for x in
                                                                     rng.integers(0, 255, 3)), -1)
    return img


def _camera(width: int, height: int) -> CameraModel:
    f = 0.8 * width
    return CameraModel(f, f, (width - 1) / 2, (height - 1) / 2, width, height, "camera_optical")


def _camera_reliability(name: str) -> Any:
    """``--camera-qos``: the reliability the camera publishes with (the node follows it)."""
    from rclpy.qos import ReliabilityPolicy

    return {"reliable": ReliabilityPolicy.RELIABLE,
            "best_effort": ReliabilityPolicy.BEST_EFFORT}[name]


def run_camera(args: argparse.Namespace) -> int:
    """A camera driver stand-in: publish the scene at ``--rate`` Hz for ``--duration`` s."""
    import rclpy
    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import CameraInfo, Image

    from . import image_codec as messages

    rclpy.init()
    node = rclpy.create_node("grasp_bench_camera")
    rgb, camera = _scene(args.width, args.height), _camera(args.width, args.height)
    msg = messages.rgb_to_image_msg(rgb, "camera_optical", node.get_clock().now().to_msg())
    info = messages.camera_info_msg(camera, msg.header.stamp)
    qos = QoSProfile(depth=5, reliability=_camera_reliability(args.camera_qos))
    pub_image = node.create_publisher(Image, "image", qos)
    pub_info = node.create_publisher(CameraInfo, "camera_info", qos)
    deadline = time.monotonic() + 30
    while pub_image.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    period, n, start = 1.0 / args.rate, 0, time.perf_counter()
    duration = args.soak or args.duration
    while time.perf_counter() - start < duration:
        # a driver fills one message per frame; the pixels do not change the node's work
        msg.header.stamp = info.header.stamp = node.get_clock().now().to_msg()
        pub_info.publish(info)
        pub_image.publish(msg)
        n += 1
        time.sleep(max(0.0, start + n * period - time.perf_counter()))
    print(json.dumps({"frames_sent": n, "duration_s": time.perf_counter() - start}))
    node.destroy_node()
    rclpy.shutdown()
    return 0


def _sample_rss(samples: list[tuple[float, float]], stop: threading.Event, period: float,
                t0: float) -> None:
    """Append (seconds since t0, RSS MiB) every ``period`` s until ``stop`` is set."""
    while not stop.wait(period):
        samples.append((round(time.monotonic() - t0, 1), round(_rss_mib(), 1)))


def _camera_command(args: argparse.Namespace, duration: float) -> list[str]:
    """The camera process (``run_camera``) at the bench's size, rate and QoS."""
    return [sys.executable, "-m", "mtg_grasp_ros.cli", "bench", "--camera-only",
            "--width", str(args.width), "--height", str(args.height), "--rate", str(args.rate),
            "--duration", str(duration), "--camera-qos", args.camera_qos]


def _frames_sent(out: str, returncode: int) -> dict[str, Any]:
    """The camera process's last line (frames sent, duration), or {} when it failed."""
    return json.loads(out.strip().splitlines()[-1]) if returncode == 0 and out.strip() else {}


def rss_growth(series: list[tuple[float, float]], end_mib: float) -> dict[str, float]:
    """The soak's memory growth after warm-up (the first sample, a twentieth in), three ways.

    ``rss_growth_after_warmup_mib``: the end (after the camera stopped) minus the first
    sample; ``rss_growth_median_first_to_last_quarter_mib``: the median of the last quarter of
    the samples minus that of the first; ``rss_growth_fit_mib``: the least-squares line through
    the samples, its value at the last sample minus that at the first. Single samples swing
    by several MiB with the frames in flight; the fit is the figure a leak shows in.
    """
    t = np.array([s[0] for s in series], dtype=np.float64)
    v = np.array([s[1] for s in series], dtype=np.float64)
    q = max(1, len(v) // 4)
    slope = float(np.polyfit(t, v, 1)[0]) if len(v) > 1 and np.ptp(t) > 0 else 0.0
    return {"rss_growth_after_warmup_mib": round(end_mib - float(v[0]), 1),
            "rss_growth_median_first_to_last_quarter_mib": round(
                float(np.median(v[-q:]) - np.median(v[:q])), 1),
            "rss_growth_fit_mib": round(slope * float(t[-1] - t[0]), 1)}


def bare_detect(detector: GraspDetector, rgb: np.ndarray, settings: Settings,
                totals: list[float], stages: dict[str, list[float]]) -> None:
    """Time one ``detect`` on ``rgb`` with the node's settings: total and per stage (s)."""
    t = time.perf_counter()
    det = detector.detect(rgb, post=settings.post, roi=settings.roi)
    totals.append(time.perf_counter() - t)
    for k, v in det.timings.items():
        stages.setdefault(k, []).append(v)


def _bare_report(totals: list[float], stages: dict[str, list[float]]) -> dict[str, Any]:
    """Median and p95 of the bare ``detect`` times, and each stage's median."""
    return {**_summary(totals), **{f"{k}_median_ms": _summary(v)["median_ms"]
                                   for k, v in stages.items()}}


class _BenchGraph:
    """The node under test on its own executor (as ``main()`` runs it) and a driver node that
    publishes the camera and receives the poses, on another.

    What the bench keeps of the poses it receives is bounded, so that a soak measures the
    node's memory, not the bench's: arrival times of the latency phase are taken out as they
    are read, the later phases' latencies are the last ``HISTORY``.
    """

    def __init__(self, args: argparse.Namespace, model_path: str) -> None:
        import rclpy
        from geometry_msgs.msg import PoseArray
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import CameraInfo, Image

        from .executors import make_executor
        from .node import GraspDetectorNode
        from .stats import HISTORY

        self.args = args
        self.ctx = Context()
        rclpy.init(context=self.ctx)
        params = {"model_path": model_path, "device": args.device, "top_k": args.top_k,
                  "torch_threads": args.torch_threads, "precision": args.precision,
                  "executor": args.executor, "max_opening": 2.0,
                  "camera_pose.source": "static", "diagnostics_period": 1.0}
        self.node = GraspDetectorNode(context=self.ctx, parameter_overrides=[
            Parameter(k, value=v) for k, v in params.items()])
        self.driver = rclpy.create_node("grasp_bench_driver", context=self.ctx)
        qos = QoSProfile(depth=5, reliability=_camera_reliability(args.camera_qos))
        self.pub_image = self.driver.create_publisher(Image, "image", qos)
        self.pub_info = self.driver.create_publisher(CameraInfo, "camera_info", qos)
        self.received: dict[tuple[int, int], float] = {}
        self.latency_phase = threading.Event()
        self.arrivals: deque[float] = deque(maxlen=HISTORY)
        self.arrived = threading.Condition()
        self.clock = self.driver.get_clock()
        self.driver.create_subscription(PoseArray, "/grasp_detector/grasp_candidates",
                                        self._on_poses, 10)
        self.executor, self.executor_kind = make_executor(args.executor, context=self.ctx)
        self.executor.add_node(self.node)
        self.driver_executor = SingleThreadedExecutor(context=self.ctx)
        self.driver_executor.add_node(self.driver)
        self.spins = [threading.Thread(target=e.spin, daemon=True)
                      for e in (self.executor, self.driver_executor)]
        for spin in self.spins:
            spin.start()
        self.rgb = _scene(args.width, args.height)
        self.camera = _camera(args.width, args.height)
        self.bare_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bare_detect")

    def _on_poses(self, msg: Any) -> None:
        from rclpy.time import Time

        self.arrivals.append((self.clock.now() - Time.from_msg(msg.header.stamp)).nanoseconds
                             * 1e-9)
        if self.latency_phase.is_set():
            with self.arrived:
                stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
                self.received[stamp] = time.perf_counter()
                self.arrived.notify_all()

    def send(self) -> tuple[tuple[int, int], float]:
        """Stamp a frame 'now' and publish it: the stamp is the acquisition time."""
        from . import image_codec as messages

        msg = messages.rgb_to_image_msg(self.rgb, "camera_optical", self.clock.now().to_msg())
        info = messages.camera_info_msg(self.camera, msg.header.stamp)
        t = time.perf_counter()
        msg.header.stamp = info.header.stamp = self.clock.now().to_msg()
        self.pub_info.publish(info)
        self.pub_image.publish(msg)
        return (msg.header.stamp.sec, msg.header.stamp.nanosec), t

    def wait_connected(self, timeout: float = 30.0) -> None:
        """Until the node subscribes to the camera, the bench to the poses, and the node has
        the camera's intrinsics.
        """
        from . import image_codec as messages

        deadline = time.monotonic() + timeout
        while (self.pub_image.get_subscription_count() == 0
               or self.node.pub_candidates.get_subscription_count() == 0
               or self.node.camera_info is None) and time.monotonic() < deadline:
            self.pub_info.publish(messages.camera_info_msg(self.camera, self.clock.now().to_msg()))
            time.sleep(0.05)

    def bare(self, totals: list[float], stages: dict[str, list[float]]) -> None:
        """One bare ``detect`` in the pool's thread (as the node's inference runs)."""
        self.bare_pool.submit(bare_detect, self.node.detector, self.rgb, self.node.settings,
                              totals, stages).result()

    def close(self) -> None:
        import rclpy

        self.bare_pool.shutdown()
        for e in (self.executor, self.driver_executor):
            e.shutdown(timeout_sec=5.0)
        for spin in self.spins:
            spin.join(timeout=5.0)      # nothing may touch the graph while it is torn down
        self.node.destroy_node()
        self.driver.destroy_node()
        rclpy.shutdown(context=self.ctx)


def _latency_phase(g: _BenchGraph, frames: int, warmup: int = 20
                   ) -> tuple[dict[str, Any], dict[str, Any], list[float]]:
    """Phase 1: one frame in flight at a time; after each, while the node is idle, the bare
    detector on the same image, so that both see the same load and their ratio compares like
    with like. The latency report, the bare detector's report, and the node's stamp-to-
    published latencies.
    """
    from ..pipeline import STAGES

    e2e: list[float] = []
    bare_times: list[float] = []
    bare_stages: dict[str, list[float]] = {}
    g.latency_phase.set()
    for i in range(frames + warmup):
        if i == warmup:      # the first frames warm caches and the DDS path up
            g.node.stats.clear_timings()
            e2e.clear()
            bare_times.clear()
            bare_stages.clear()
        key, t_sent = g.send()
        with g.arrived:
            if not g.arrived.wait_for(partial(operator.contains, g.received, key), timeout=10.0):
                print(f"frame {i}: no poses within 10 s", file=sys.stderr)
                continue
            e2e.append(g.received.pop(key) - t_sent)
        time.sleep(0.002)       # the worker records its timings after publishing
        g.bare(bare_times, bare_stages)
    g.latency_phase.clear()
    g.received.clear()
    stages = {s: _summary(g.node.stats.stage_times(s)) for s in STAGES}
    latency_pub = g.node.stats.latencies()
    network = stages["network"].get("median_ms", float("nan"))
    other = sum(stages[s].get("median_ms", 0.0) for s in STAGES if s != "network")
    latency = {"stages": stages, "non_network_over_network": round(other / network, 3),
               "stamp_to_published": _summary(latency_pub), "stamp_to_received": _summary(e2e)}
    return latency, _bare_report(bare_times, bare_stages), latency_pub


def _beside_camera(g: _BenchGraph, seconds: float, totals: list[float],
                   stages: dict[str, list[float]]) -> tuple[int | None, int]:
    """Phase 3: the bare detector back to back while a camera process publishes for
    ``seconds`` to the node, which only receives (``mode: on_request``); frames sent and
    received.
    """
    import subprocess

    from rclpy.parameter import Parameter

    g.node.set_parameters([Parameter("mode", value="on_request")])
    received0 = g.node.counts["received"]
    cam = subprocess.Popen(_camera_command(g.args, seconds), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    while cam.poll() is None:
        if g.node.counts["received"] == received0:     # the camera is not publishing yet
            time.sleep(0.01)
            continue
        g.bare(totals, stages)
    out, _ = cam.communicate()
    g.node.set_parameters([Parameter("mode", value="continuous")])
    time.sleep(0.3)      # the frame left in the slot is processed before counting starts
    return (_frames_sent(out, cam.returncode).get("frames_sent"),
            g.node.counts["received"] - received0)


def _keep_up_phase(g: _BenchGraph) -> dict[str, Any]:
    """Phase 2: a camera process at the camera rate for ``duration`` (or ``soak``) s; rate
    achieved, frames dropped, latency and the node process's memory.
    """
    import subprocess

    from ..pipeline import STAGES

    args, node = g.args, g.node
    node.stats.clear_timings()
    counts0 = dict(node.counts)
    g.arrivals.clear()
    rss0, heap0 = _rss_mib(), _heap_state()
    duration = args.soak or args.duration
    rss_series: list[tuple[float, float]] = []
    stop_sampling = threading.Event()
    sampler = threading.Thread(target=_sample_rss, daemon=True, args=(
        rss_series, stop_sampling, duration / 20.0, time.monotonic()))
    sampler.start()
    cam = subprocess.run(_camera_command(args, duration), capture_output=True, text=True,
                         timeout=duration + 120)
    time.sleep(0.5)
    stop_sampling.set()
    sampler.join()
    rss1, heap1 = _rss_mib(), _heap_state()
    sent = _frames_sent(cam.stdout, cam.returncode)
    elapsed = sent.get("duration_s", args.duration)
    counts1 = node.counts
    processed = counts1["processed"] - counts0.get("processed", 0)
    keepup = {"camera_rate_hz": args.rate, "duration_s": round(elapsed, 2),
              "frames_sent": sent.get("frames_sent"),
              "frames_received_by_node": counts1["received"] - counts0.get("received", 0),
              "frames_processed": processed,
              "frames_dropped": counts1["dropped"] - counts0.get("dropped", 0),
              "rate_achieved_hz": round(processed / elapsed, 2),
              "stamp_to_received": _summary(g.arrivals),
              "stamp_to_published": _summary(node.stats.latencies()),
              "network": _summary(node.stats.stage_times("network")),
              "stages": {s: _summary(node.stats.stage_times(s)) for s in STAGES},
              "rss_mib_before": round(rss0, 1), "rss_mib_after": round(rss1, 1),
              **heap_growth(heap0, heap1)}
    if args.soak and rss_series:
        keepup["rss_mib_series"] = rss_series
        keepup.update(rss_growth(rss_series, rss1))
    return keepup


def _ratios(rate: float, latency: dict[str, Any], bare: dict[str, Any],
            beside: dict[str, Any], keepup: dict[str, Any], latency_pub: list[float]
            ) -> dict[str, float]:
    """The bench's headline figures, each a ratio of two timings taken in the same run."""
    e2e_pub = _summary(latency_pub)
    bare_median = bare.get("median_ms", math.nan)

    def keep_up_over(bare_ms: float) -> float:
        return round(keepup["rate_achieved_hz"] / min(rate, 1e3 / bare_ms), 3)

    return {"end_to_end_over_detector": round(e2e_pub.get("median_ms", math.nan)
                                              / bare_median, 3),
            "end_to_end_p95_over_median": round(e2e_pub.get("p95_ms", math.nan)
                                                / e2e_pub.get("median_ms", math.nan), 3),
            "keep_up_over_possible": keep_up_over(beside.get("median_ms", math.nan)),
            "keep_up_over_possible_idle": keep_up_over(bare_median),
            "non_network_over_network": latency["non_network_over_network"]}


def run_bench(args: argparse.Namespace) -> int:
    """The phases on the real node; prints the JSON report."""
    import torch

    from . import image_codec as messages
    from .process_setup import prepare_process

    prepare_process()   # as the node's main() does (the camera process inherits it)
    model_path, model_desc = _model_path(args.model, Path(tempfile.mkdtemp(prefix="mtg_bench_")))
    g = _BenchGraph(args, model_path)
    g.wait_connected()
    latency, bare, latency_pub = _latency_phase(g, args.frames)
    # the bare detector beside the camera, half before the keep-up phase and half after it,
    # so that a machine whose speed drifts over the run is timed on average as during it
    beside_times: list[float] = []
    beside_stages: dict[str, list[float]] = {}
    sent_a, received_a = _beside_camera(g, args.duration / 2, beside_times, beside_stages)
    keepup = _keep_up_phase(g)
    sent_b, received_b = _beside_camera(g, args.duration / 2, beside_times, beside_stages)
    beside = {**_bare_report(beside_times, beside_stages),
              "frames_sent": (sent_a or 0) + (sent_b or 0),
              "frames_received_by_node": received_a + received_b}
    report = {"model": model_desc, "device": str(g.node.detector.device),
              "precision": g.node.detector.precision, "executor": g.executor_kind,
              "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
              "load_average": [round(x, 2) for x in os.getloadavg()],
              "image": f"{args.width}x{args.height} rgb8", "image_backend": messages.IMAGE_BACKEND,
              "camera_qos": args.camera_qos,
              "ratios": _ratios(args.rate, latency, bare, beside, keepup, latency_pub),
              "bare_detector": bare, "bare_detector_beside_camera": beside,
              "latency": latency, "keep_up": keepup}
    g.close()
    print(json.dumps(report, indent=2))
    return 0
