"""``mtg_grasp replay``: play a bag into a live ROS graph, or run the detector over it offline."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..bag_writer import STORAGES
from ..projection import DEPTH_SOURCES, Transform, rpy_to_quat


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bag", type=Path, help="rosbag2 folder (sqlite3 or mcap) or ROS 1 .bag file")
    p.add_argument("--topics", nargs="+", default=[], metavar="TOPIC",
                   help="only these topics (live: any topic; offline: image topics)")
    live = p.add_argument_group("live replay (default)")
    live.add_argument("--rate", type=float, default=1.0, help="speed factor (2 = twice as fast)")
    live.add_argument("--loop", action="store_true", help="play again from the start at the end")
    live.add_argument("--start-delay", type=float, default=0.5, metavar="S",
                      help="seconds between advertising the topics and the first message, so "
                           "that subscribers can match")
    live.add_argument("--clock", action="store_true",
                      help="publish the bag's time on /clock (for use_sim_time nodes)")
    live.add_argument("--remap", nargs="+", default=[], metavar="FROM:=TO",
                      help="publish a bag topic under another name")
    off = p.add_argument_group("offline processing")
    off.add_argument("--offline", action="store_true", help="run the detector, no ROS graph")
    off.add_argument("--out", type=Path, help="result folder (offline)")
    off.add_argument("--model", type=Path, help="model file (.safetensors) (offline)")
    off.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    node = p.add_argument_group("offline: the node's parameters (config/grasp_detector.yaml)")
    node.add_argument("--target-frame", default="base_link",
                      help="frame of the output poses and of the support plane")
    node.add_argument("--depth-source", choices=[d for d in DEPTH_SOURCES if d != "depth_topic"],
                      default="plane")
    node.add_argument("--plane-normal", type=float, nargs=3, default=(0.0, 0.0, 1.0),
                      metavar=("NX", "NY", "NZ"),
                      help="support plane normal . p = offset, in the target frame")
    node.add_argument("--plane-offset", type=float, default=0.0)
    node.add_argument("--grasp-height", type=float, default=0.0,
                      help="metres above the plane of the grasp centre")
    node.add_argument("--fixed-distance", type=float, default=0.5,
                      help="metres along the ray (depth source fixed)")
    node.add_argument("--camera-xyz", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                      help="static pose of the optical frame in the target frame (m); default: "
                           "the bag's /tf_static, else 0 0 0.6 with rpy pi 0 0 (looking down)")
    node.add_argument("--camera-rpy", type=float, nargs=3, default=(math.pi, 0.0, 0.0),
                      metavar=("R", "P", "Y"), help="rad, with --camera-xyz")
    node.add_argument("--top-k", type=int, default=5, help="grasp candidates per frame")
    node.add_argument("--min-quality", type=float, default=0.0)
    node.add_argument("--max-opening", type=float, default=0.1,
                      help="m; wider grasps are rejected")
    off.add_argument("--storage", choices=sorted(STORAGES), default="sqlite3",
                     help="storage of RESULT/grasps")
    off.add_argument("--video", action="store_true", help="also write RESULT/grasps.mp4")
    off.add_argument("--save-frames", action="store_true",
                     help="also write every annotated frame to RESULT/frames/")


def _offline(args: argparse.Namespace) -> int:
    from ..ros.offline import OfflineConfig, run_offline

    if args.out is None or args.model is None:
        raise SystemExit("replay --offline needs --out RESULT and --model FILE")
    pose = None
    if args.camera_xyz is not None:
        pose = Transform(tuple(args.camera_xyz), tuple(rpy_to_quat(*args.camera_rpy).tolist()))
    cfg = OfflineConfig(args.model, args.device, tuple(args.topics), args.target_frame,
                        args.depth_source, tuple(args.plane_normal), args.plane_offset,
                        args.grasp_height, args.fixed_distance, pose, args.top_k,
                        args.min_quality, args.max_opening, args.storage, video=args.video,
                        save_frames=args.save_frames)
    run_offline(args.bag, args.out, cfg)
    return 0


def _live(args: argparse.Namespace) -> int:
    from ..ros.replay import ReplayOptions, replay_live

    remap = {}
    for item in args.remap:
        src, sep, dst = item.partition(":=")
        if not sep or not src or not dst:
            raise SystemExit(f"--remap {item!r}: expected FROM:=TO")
        remap[src] = dst
    opts = ReplayOptions(args.rate, args.loop, tuple(args.topics), args.start_delay, args.clock,
                         remap)
    replay_live(args.bag, opts)
    return 0


def run(args: argparse.Namespace) -> int:
    from ..bags import BagError
    from ..model_io import ModelFileError
    from ..preprocess import ImageError

    try:
        return _offline(args) if args.offline else _live(args)
    except (BagError, ModelFileError, ImageError, FileExistsError, ValueError) as exc:
        print(f"mtg_grasp replay: {exc}", file=sys.stderr)
        return 2
