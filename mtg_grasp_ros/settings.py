"""The grasp detector's parameters: one table of names, defaults, ranges and validation.

:data:`PARAMS` is the only definition of the node's parameters. The ROS node declares them
from it (``ros/params.py`` builds the ParameterDescriptors), and the offline tools
(``mtg_grasp replay --offline``, ``mtg_grasp demo``) read the node's own parameters YAML with
:func:`load_params_file` and build the same :class:`Settings` with :func:`settings_from`.
No rclpy here, so the offline tools and the tests use it without a ROS install.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .framing import WorkspaceRect
from .postprocess import PostprocessConfig
from .precision import PRECISIONS
from .projection import (
    APPROACHES,
    DEPTH_SOURCES,
    DepthSource,
    Plane,
    ToolFrame,
    Transform,
    rpy_to_quat,
)

NODE_NAME = "grasp_detector"
MODEL_FILE = "mtgcnn_p_depth_world_cut.safetensors"
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
MODES = ("continuous", "on_request")
INPUTS = ("raw", "compressed")
RELIABILITIES = ("auto", "best_effort", "reliable")
#: The smallest ROI side (the smallest image the detector takes).
MIN_ROI_PX = 4
POSE_SOURCES = ("auto", "tf2", "static")
#: How the node's callbacks are run (``auto``: single, see ``ros/executors.py``).
EXECUTORS = ("auto", "single", "multi", "events")

#: The default static camera pose: 0.6 m above the target frame's origin, looking straight
#: down (optical z = -world z). The node's ``camera_pose.xyz/rpy`` defaults and the sample
#: bags' camera are this pose.
LOOKING_DOWN_XYZ: tuple[float, float, float] = (0.0, 0.0, 0.6)
LOOKING_DOWN_RPY: tuple[float, float, float] = (math.pi, 0.0, 0.0)
LOOKING_DOWN = Transform(LOOKING_DOWN_XYZ, (1.0, 0.0, 0.0, 0.0))   # = rpy (pi, 0, 0), exact


@dataclass(frozen=True)
class Param:
    """One parameter: default, description, range or choices, read-only."""

    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False


PARAMS: tuple[Param, ...] = (
    Param("model_path", "", "Model file (.safetensors); empty: the bundled "
          f"models/{MODEL_FILE}.", read_only=True),
    Param("device", "auto", "Inference device; auto picks CUDA when available.",
          choices=DEVICES, read_only=True),
    Param("precision", "auto", "Arithmetic of the network: auto (bf16 on CPUs with native "
          "bf16 and on CUDA GPUs that have it, fp16 on other GPUs, else fp32), fp32, bf16, fp16 "
          "(CUDA only).", choices=PRECISIONS, read_only=True),
    Param("torch_threads", 0, "CPU threads for inference (torch.set_num_threads, whole "
          "process); 0: all cores but one (at least one), so that the executor, DDS and the "
          "camera driver keep a core and do not stall the network's threads.", (0, 256),
          read_only=True),
    Param("executor", "auto", "How callbacks are run: single (SingleThreadedExecutor), multi "
          "(MultiThreadedExecutor, 2 threads), events (rclpy.experimental.EventsExecutor, "
          "where the installed rclpy has it; else single); auto: single, because the callbacks "
          "only store messages and ~/detect waits as a coroutine, so one thread serves everything "
          "and leaves the CPU to inference.",
          choices=EXECUTORS, read_only=True),
    Param("input", "raw", "Subscribe to 'image' (raw) or 'image/compressed'.", choices=INPUTS,
          read_only=True),
    Param("qos.reliability", "auto", "Reliability of the image, camera_info and depth "
          "subscriptions. auto: follow the publishers, as rosbag2 does (reliable when every "
          "publisher of the topic is reliable, else best effort); large frames over best effort "
          "are often lost.", choices=RELIABILITIES, read_only=True),
    Param("qos.depth", 1, "History depth (keep last) of the input subscriptions. 1: the node "
          "only ever processes the newest frame, so a deeper queue holds only stale frames "
          "(and, at 640x480, about 1 MiB each of memory).", (1, 100), read_only=True),
    Param("mode", "continuous", "continuous: every newest frame; on_request: only when "
          "~/detect is called, on the next fresh frame.", choices=MODES),
    Param("request_timeout", 5.0, "Seconds ~/detect waits for a fresh frame (one that arrived "
          "in time is then waited for until processed).", (0.1, 120.0)),
    Param("detect.max_waiting", 200, "Most ~/detect calls that wait at once; a call past it "
          "is answered at once, unsuccessfully (busy). The service's request queue holds "
          "twice as many.", (1, 10000), read_only=True),
    Param("roi", [0, 0, 0, 0], "Region of interest [x, y, width, height] in image pixels; the "
          "network sees its largest centred square. All 0: the whole image."),
    Param("workspace", [0.0, 0.0, 0.0, 0.0], "Workspace rectangle [x_min, y_min, x_max, y_max] "
          "on the support plane in target_frame, metres; when set (not all 0) the ROI is this "
          "rectangle projected into each image through the camera pose (replaces roi)."),
    Param("sigma_q", 5.0, "Gaussian smoothing of Q, network pixels (paper: 5).", (0.0, 50.0)),
    Param("sigma_angle", 5.0, "Gaussian smoothing of cos/sin 2phi, network pixels.", (0.0, 50.0)),
    Param("sigma_width", 5.0, "Gaussian smoothing of the width map, network pixels.", (0.0, 50.0)),
    Param("top_k", 5, "Number of candidates (local maxima of Q), best first.", (1, 100)),
    Param("min_distance", 10, "Minimum distance between candidates, network pixels.", (0, 150)),
    Param("min_quality", 0.0, "Candidates with a smoothed Q below this are dropped.", (0.0, 1.0)),
    Param("max_opening", 0.1, "Maximum gripper opening in metres; wider grasps are rejected.",
          (0.001, 2.0)),
    Param("target_frame", "base_link", "Frame of the published poses and markers."),
    Param("depth_source", "plane", "Depth of the grasp centre: intersect the pixel's ray with "
          "the support plane, read the aligned depth image, or a fixed distance.",
          choices=DEPTH_SOURCES),
    Param("plane.frame", "", "Frame in which the support plane is given; empty: target_frame."),
    Param("plane.normal", [0.0, 0.0, 1.0], "Support plane normal (pointing up, away from the "
          "table) in plane.frame."),
    Param("plane.offset", 0.0, "Support plane: normal . p = offset (metres) in plane.frame."),
    Param("grasp_height", 0.0, "Height of the centre between the fingertips above the plane "
          "(depth_source plane), or past the measured surface (depth_topic), metres. 0 puts "
          "that centre on the table, so the pads' lower halves would be in it: about half "
          "the fingertip pad height (e.g. 0.01) keeps them clear.", (-1.0, 1.0)),
    Param("approach", "optical_axis", "Approach direction (gripper z): the camera's optical "
          "axis, or down along the support plane's normal (top-down with a tilted camera).",
          choices=APPROACHES),
    Param("approach_distance", 0.1, "Pre-grasp pose this far back along the approach axis "
          "from the grasp pose, metres.", (0.0, 2.0)),
    Param("tool.offset", 0.0, "Published poses are of the end-effector (tool) frame whose "
          "origin is this far behind the fingertip centre along the approach axis, metres "
          "(0: the fingertip centre itself).", (-1.0, 2.0)),
    Param("tool.rpy", [0.0, 0.0, 0.0], "Orientation of the tool frame in the grasp frame (x "
          "closing, z approach), fixed-axis roll, pitch, yaw (rad); e.g. [0, 0, 1.5708] for a "
          "gripper that closes along its link's y."),
    Param("depth_max_age", 0.5, "depth_topic: a depth image whose stamp is further than this "
          "from the colour image's is not used (bad_depth), seconds; 0: no check.",
          (0.0, 3600.0)),
    Param("depth_min", 0.05, "Nearest grasp centre accepted, metres along the optical axis; "
          "depth readings nearer than this are invalid (a lens-covering object, noise).",
          (0.0, 100.0)),
    Param("depth_max", 10.0, "Farthest grasp centre accepted, metres along the optical axis; "
          "depth readings farther are invalid.", (0.001, 1000.0)),
    Param("fixed_distance", 0.5, "Distance along the ray for depth_source fixed, metres.",
          (0.01, 20.0)),
    Param("tf.timeout", 0.25, "Seconds to wait for the transform at the image stamp (a "
          "camera on an arm: the joint states often arrive after the image).", (0.0, 5.0)),
    Param("tf.fallback_latest", True, "When the transform at the image stamp is not available "
          "after tf.timeout, use the latest one (counted and logged) if it is recent enough."),
    Param("tf.fallback_max_age", 0.1, "Oldest latest-transform the fallback accepts: seconds "
          "between its stamp and the image's; older: the frame is skipped (stale_transform).",
          (0.0, 3600.0)),
    Param("camera_pose.source", "auto", "Camera pose from tf2 or the static pose below; auto: "
          "tf2 when tf2_ros is installed.", choices=POSE_SOURCES, read_only=True),
    Param("camera_pose.xyz", list(LOOKING_DOWN_XYZ), "Static pose: camera optical frame origin "
          "in target_frame, metres."),
    Param("camera_pose.rpy", list(LOOKING_DOWN_RPY), "Static pose: optical frame orientation in "
          "target_frame, fixed-axis roll, pitch, yaw (rad). Default: looking straight down."),
    Param("diagnostics_period", 1.0, "Seconds between /diagnostics messages.", (0.1, 60.0),
          read_only=True),
)
PARAM_NAMES: tuple[str, ...] = tuple(p.name for p in PARAMS)
_BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}


def defaults() -> dict[str, Any]:
    """Every parameter's default value (lists copied, so callers may change them)."""
    return {p.name: list(p.default) if isinstance(p.default, list) else p.default
            for p in PARAMS}


def _choice(values: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str:
    value = values[name]
    if name == "device" and isinstance(value, str) and value.startswith("cuda:"):
        return value
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return str(value)


def _vector(values: Mapping[str, Any], name: str, n: int) -> Any:
    try:
        v = tuple(float(x) for x in values[name])
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {n} numbers, got {values[name]!r}") from None
    if len(v) != n or not all(math.isfinite(x) for x in v):
        raise ValueError(f"{name} must be {n} finite numbers, got {list(v)}")
    return v      # a tuple of n floats (typed Any: the caller knows n, mypy does not)


def check_value(name: str, value: Any) -> Any:
    """``value`` converted to the parameter's type; ValueError naming a wrong type or range.

    Used for values that do not come through ROS (a YAML file, command-line overrides); the
    node gets the same checks from its ParameterDescriptors.
    """
    if name not in _BY_NAME:
        raise ValueError(f"unknown parameter {name!r}; known: {', '.join(PARAM_NAMES)}")
    p = _BY_NAME[name]
    kind = type(p.default)
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
    elif kind is list:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name} must be a list, got {value!r}")
        value = list(value)
    if p.range is not None and not p.range[0] <= value <= p.range[1]:
        raise ValueError(f"{name} must be in [{p.range[0]}, {p.range[1]}], got {value!r}")
    if p.choices:
        _choice({name: value}, name, p.choices)
    return value


def flatten_params(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A params file's nested ``ros__parameters`` as dotted names (``qos.depth``)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(flatten_params(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


#: Keys of a ROS 2 parameters file that address the grasp_detector node, wildcards first:
#: a value under the node's own name overrides a wildcard's.
NODE_KEYS: tuple[str, ...] = ("/**", "/**/" + NODE_NAME, NODE_NAME, f"/{NODE_NAME}")


def load_params_file(path: str | Path) -> dict[str, Any]:
    """The grasp_detector parameters of a ROS 2 parameters YAML (``ros2 run --params-file``).

    Accepts the ``grasp_detector:``, ``/**:`` and ``/**/grasp_detector:`` keys (the node's own
    name overrides a wildcard where both give a value); the values are checked against
    :data:`PARAMS`. Raises ValueError naming the file and the bad entry.
    """
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping of node names to ros__parameters")
    found = [k for k in doc if k in NODE_KEYS]
    if not found:
        raise ValueError(f"{path}: no parameters for the grasp_detector node (expected one of "
                         f"the keys {', '.join(NODE_KEYS)}; found {', '.join(map(str, doc))})")
    out: dict[str, Any] = {}
    for key in sorted(found, key=NODE_KEYS.index):
        section = doc[key]
        if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
            raise ValueError(f"{path}: {key}: expected a 'ros__parameters' mapping")
        for name, value in flatten_params(section["ros__parameters"]).items():
            if name == "use_sim_time" or name.startswith("qos_overrides."):
                continue           # rclpy's own parameters, which every node has
            try:
                out[name] = check_value(name, value)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
    return out


def parameter_values(params_file: str | Path | None = None,
                     overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then a parameters file's values, then ``overrides`` (all checked)."""
    values = defaults()
    if params_file is not None:
        values.update(load_params_file(params_file))
    for name, value in (overrides or {}).items():
        values[name] = check_value(name, value)
    return values


@dataclass(frozen=True)
class Settings:
    """The run-time-changeable parameters, validated by the core's own constructors."""

    post: PostprocessConfig
    roi: tuple[int, int, int, int] | None
    mode: str
    request_timeout: float
    max_opening: float
    target_frame: str
    depth: DepthSource            # its plane is given in plane_frame
    plane_frame: str
    tf_timeout: float
    tf_fallback_latest: bool
    static_pose: Transform        # camera optical frame -> target_frame
    depth_max_age: float = 0.5    # seconds between depth and colour stamps; 0: any
    tf_fallback_max_age: float = 0.1
    approach: str = "optical_axis"
    tool: ToolFrame = ToolFrame()
    workspace: WorkspaceRect | None = None   # on the support plane, in target_frame
    max_waiting: int = 200        # ~/detect calls waiting at once

    @classmethod
    def from_values(cls, v: Mapping[str, Any]) -> Settings:
        """Settings of a full set of parameter values; ValueError naming the bad value."""
        post = PostprocessConfig(v["sigma_q"], v["sigma_angle"], v["sigma_width"], v["top_k"],
                                 v["min_distance"], v["min_quality"])
        target = _frame_name(v, "target_frame")
        depth = DepthSource(_choice(v, "depth_source", DEPTH_SOURCES),
                            Plane(_vector(v, "plane.normal", 3), float(v["plane.offset"])),
                            float(v["grasp_height"]), float(v["fixed_distance"]),
                            _depth_range(v))
        pose = Transform(_position(v, "camera_pose.xyz"),
                         tuple(rpy_to_quat(*_vector(v, "camera_pose.rpy", 3)).tolist()))
        tool = ToolFrame(float(v["tool.offset"]),
                         tuple(rpy_to_quat(*_vector(v, "tool.rpy", 3)).tolist()),
                         float(v["approach_distance"]))
        ws = list(v["workspace"])
        workspace = WorkspaceRect.from_sequence(_vector(v, "workspace", 4)) \
            if ws and any(float(x) != 0.0 for x in ws) else None
        return cls(post, _roi(v), _choice(v, "mode", MODES), float(v["request_timeout"]),
                   float(v["max_opening"]), target, depth,
                   _frame_name(v, "plane.frame") if v["plane.frame"] else target,
                   float(v["tf.timeout"]), bool(v["tf.fallback_latest"]), pose,
                   float(v["depth_max_age"]),
                   tf_fallback_max_age=float(v["tf.fallback_max_age"]),
                   approach=_choice(v, "approach", APPROACHES), tool=tool, workspace=workspace,
                   max_waiting=int(v["detect.max_waiting"]))


#: The farthest a static camera position may be from target_frame's origin, metres: beyond it
#: float32 outputs (``~/grasps``) lose the millimetres or overflow.
MAX_POSITION_M = 1e5


def _roi(v: Mapping[str, Any]) -> tuple[int, int, int, int] | None:
    """The roi parameter: None for all zeros (the whole image); ValueError for a half-set one."""
    try:
        roi = tuple(int(x) for x in v["roi"])
    except (TypeError, ValueError):
        raise ValueError(f"roi must be 4 integers [x, y, width, height], got {v['roi']!r}") \
            from None
    if len(roi) != 4 or min(roi) < 0:
        raise ValueError(f"roi must be [x, y, width, height] with values >= 0, got {list(roi)}")
    if not any(roi):
        return None
    if min(roi[2], roi[3]) < MIN_ROI_PX:
        raise ValueError(f"roi width and height must both be at least {MIN_ROI_PX} px (or the "
                         f"whole roi 0 for the whole image), got {list(roi)}")
    return roi[0], roi[1], roi[2], roi[3]


def _frame_name(v: Mapping[str, Any], name: str) -> str:
    """A tf2 frame name parameter; ValueError when empty or holding whitespace."""
    value = v[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must not be empty")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"{name} {value!r} is not a frame name: it holds spaces or control "
                         f"characters")
    return value


def _position(v: Mapping[str, Any], name: str) -> Any:
    """A position vector parameter, finite and within :data:`MAX_POSITION_M` of the origin."""
    xyz = _vector(v, name, 3)
    if math.hypot(*xyz) > MAX_POSITION_M:
        raise ValueError(f"{name} {list(xyz)} is more than {MAX_POSITION_M:g} m from the origin")
    return xyz


def _depth_range(v: Mapping[str, Any]) -> tuple[float, float]:
    """(depth_min, depth_max); ValueError unless depth_min < depth_max."""
    near, far = float(v["depth_min"]), float(v["depth_max"])
    if not near < far:
        raise ValueError(f"depth_min ({near}) must be less than depth_max ({far})")
    return near, far


def settings_from(params_file: str | Path | None = None,
                  overrides: Mapping[str, Any] | None = None) -> tuple[Settings, dict[str, Any]]:
    """:class:`Settings` (and all values) from defaults, a parameters file and overrides."""
    values = parameter_values(params_file, overrides)
    return Settings.from_values(values), values
