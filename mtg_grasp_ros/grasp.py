"""Antipodal grasps in the image plane: the value, its rectangle, IoU and the Jacquard rule.

Conventions (used everywhere in the project):

* Pixels are ``(x, y)`` = (column, row), with y pointing down, and pixel centres at integer
  coordinates.
* ``angle`` is the direction in which the jaws close, measured from the image x axis towards
  the image y axis (atan2(dy, dx) in pixel coordinates), wrapped to [-pi/2, pi/2). Because
  the image's x and y axes are the camera optical frame's x and y axes (REP 103), this is
  also the gripper's rotation about the optical axis.
* ``width`` is the jaw opening, in pixels, measured along the closing direction; ``jaw`` is
  the size of the jaws, measured across it. The grasp rectangle is ``width`` x ``jaw``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from shapely.geometry import Polygon

#: The Jacquard success rule of the paper (Section III-D).
IOU_THRESHOLD = 0.25
ANGLE_THRESHOLD = math.radians(30.0)


def wrap_angle(angle: float | np.ndarray) -> float | np.ndarray:
    """Wrap an antipodal grasp angle to [-pi/2, pi/2): a grasp and its 180 deg turn are one."""
    return np.mod(np.add(angle, np.pi / 2), np.pi) - np.pi / 2


def angle_difference(a: float, b: float) -> float:
    """Smallest absolute difference of two grasp angles, modulo pi (so in [0, pi/2])."""
    return abs(float(wrap_angle(a - b)))


@dataclass(frozen=True)
class Grasp:
    """One planar antipodal grasp in pixel coordinates (see the module docstring)."""

    x: float
    y: float
    angle: float
    width: float
    jaw: float
    quality: float = 1.0

    @property
    def center(self) -> tuple[float, float]:
        """The centre (x, y) in pixels."""
        return (self.x, self.y)

    def corners(self) -> np.ndarray:
        """The grasp rectangle's four corners as a (4, 2) array of (x, y), in drawing order."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        along = np.array([c, s]) * self.width / 2.0
        across = np.array([-s, c]) * self.jaw / 2.0
        centre = np.array([self.x, self.y])
        return np.stack([centre - along - across, centre + along - across,
                         centre + along + across, centre - along + across])

    def polygon(self) -> Polygon:
        """The rectangle as a shapely polygon, for IoU."""
        return Polygon(self.corners())

    def jaw_tips(self) -> np.ndarray:
        """The two points where the jaws start, at +/- width/2 along the closing direction."""
        d = np.array([math.cos(self.angle), math.sin(self.angle)]) * self.width / 2.0
        centre = np.array([self.x, self.y])
        return np.stack([centre - d, centre + d])

    @classmethod
    def from_corners(cls, corners: np.ndarray, quality: float = 1.0) -> Grasp:
        """A grasp from a rectangle's corners given in order; the first edge is the opening.

        This is the Cornell convention: corners 0->1 run along the jaws' closing direction.
        """
        pts = np.asarray(corners, dtype=np.float64).reshape(4, 2)
        centre = pts.mean(axis=0)
        d01 = pts[1] - pts[0]
        d12 = pts[2] - pts[1]
        angle = float(wrap_angle(math.atan2(d01[1], d01[0])))
        return cls(float(centre[0]), float(centre[1]), angle,
                   float(np.hypot(*d01)), float(np.hypot(*d12)), quality)

    def transformed(self, matrix: np.ndarray) -> Grasp:
        """The grasp under a 2x3 similarity transform (scale, rotation, translation) of pixels."""
        m = np.asarray(matrix, dtype=np.float64)
        x, y = m @ np.array([self.x, self.y, 1.0])
        scale = math.hypot(m[0, 0], m[1, 0])
        rotation = math.atan2(m[1, 0], m[0, 0])
        return replace(self, x=float(x), y=float(y), angle=float(wrap_angle(self.angle + rotation)),
                       width=self.width * scale, jaw=self.jaw * scale)

    def scaled(self, factor: float) -> Grasp:
        """The grasp in an image resized by ``factor`` about the origin."""
        return self.transformed(np.array([[factor, 0.0, 0.0], [0.0, factor, 0.0]]))

    def translated(self, dx: float, dy: float) -> Grasp:
        """The grasp in an image whose origin moved by (-dx, -dy) (for a crop, dx=-x0, dy=-y0)."""
        return replace(self, x=self.x + dx, y=self.y + dy)


def transform_grasps(grasps: Sequence[Grasp], matrix: np.ndarray) -> list[Grasp]:
    """``[g.transformed(matrix) for g in grasps]`` with the matrix taken apart once and the
    points mapped on Python floats: what the detector does to its candidates every frame
    (numpy's per-call cost on one point was most of the 0.1 ms it took for five).
    """
    (a, b, tx), (c, d, ty) = np.asarray(matrix, dtype=np.float64).tolist()
    scale, rotation = math.hypot(a, c), math.atan2(c, a)
    return [replace(g, x=a * g.x + b * g.y + tx, y=c * g.x + d * g.y + ty,
                    angle=float(wrap_angle(g.angle + rotation)), width=g.width * scale,
                    jaw=g.jaw * scale) for g in grasps]


def iou(a: Grasp, b: Grasp) -> float:
    """Exact intersection over union of two grasp rectangles."""
    pa, pb = a.polygon(), b.polygon()
    inter = pa.intersection(pb).area
    union = pa.area + pb.area - inter
    return float(inter / union) if union > 0 else 0.0


def matches(pred: Grasp, truth: Grasp, iou_threshold: float = IOU_THRESHOLD,
            angle_threshold: float = ANGLE_THRESHOLD) -> bool:
    """The Jacquard rule for one pair: angle within 30 deg (mod 180) and IoU above 25%."""
    return angle_difference(pred.angle, truth.angle) < angle_threshold and \
        iou(pred, truth) > iou_threshold


def is_correct(pred: Grasp, truths: Iterable[Grasp], iou_threshold: float = IOU_THRESHOLD,
               angle_threshold: float = ANGLE_THRESHOLD) -> bool:
    """A predicted grasp is correct when it matches any ground-truth grasp of the image."""
    return any(matches(pred, t, iou_threshold, angle_threshold) for t in truths)


def max_iou(pred: Grasp, truths: Sequence[Grasp],
            angle_threshold: float = ANGLE_THRESHOLD) -> float:
    """Best IoU against the truths whose angle is within the threshold (0 if none is)."""
    best = 0.0
    for t in truths:
        if angle_difference(pred.angle, t.angle) < angle_threshold:
            best = max(best, iou(pred, t))
    return best


# --- Jacquard grasps.txt --------------------------------------------------------------------
# Lines are "x;y;theta_deg;opening;jaw_size" in pixels of the 1024x1024 image, CRLF endings.
# theta is measured with the image's y axis pointing down, which is this module's convention,
# so it loads without a sign change (checked on the real samples in test_grasp_jacquard.py:
# the jaw tips fall off the object's mask, while with the sign flipped they fall on it).


class GraspFileError(ValueError):
    """A grasp annotation file that cannot be read; the message names the file and line."""


#: Longest piece of a bad line quoted in an error; the rest is elided (a line may be 20 MB).
QUOTE_CHARS = 80
JACQUARD_FIELDS = ("x", "y", "theta_deg", "opening", "jaw_size")
_BOM = b"\xef\xbb\xbf"


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters with an ellipsis, for error messages."""
    text = text.strip()
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def read_ascii_lines(path: str | Path) -> list[tuple[int, str]]:
    """The numbered, non-blank lines of a plain-ASCII annotation file (CRLF or LF).

    A UTF-8 byte-order mark (what some editors add) is skipped; any other non-ASCII byte is
    a GraspFileError naming the file, line and column.
    """
    path = Path(path)
    data = path.read_bytes()
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        lineno = data.count(b"\n", 0, exc.start) + 1
        raise GraspFileError(f"{path}:{lineno}: non-ASCII byte 0x{data[exc.start]:02x} at "
                             f"column {exc.start - line_start + 1}; grasp files are plain "
                             f"ASCII text") from None
    return [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]


def parse_jacquard_line(line: str, path: str | Path = "<string>", lineno: int = 0) -> Grasp:
    """One ``x;y;theta;opening;jaw_size`` line as a Grasp; errors name file, line and field."""
    fields = line.strip().split(";")
    where = f"{path}:{lineno}"
    if len(fields) != 5:
        raise GraspFileError(f"{where}: expected 5 ';'-separated fields "
                             f"'x;y;theta_deg;opening;jaw_size', got {len(fields)}: {quote(line)}")
    values = []
    for name, text in zip(JACQUARD_FIELDS, fields, strict=True):
        try:
            value = float(text)
        except ValueError:
            raise GraspFileError(f"{where}: {name} is not a number: {quote(text)}") from None
        if not math.isfinite(value):
            raise GraspFileError(f"{where}: {name} must be finite, got {quote(text)}")
        values.append(value)
    x, y, theta, opening, jaw = values
    for name, value in (("opening", opening), ("jaw_size", jaw)):
        if value <= 0:
            raise GraspFileError(f"{where}: {name} must be > 0, got {value:g}")
    return Grasp(x, y, float(wrap_angle(math.radians(theta))), opening, jaw)


def read_jacquard_grasps(path: str | Path) -> list[Grasp]:
    """All grasps of a Jacquard ``*_grasps.txt`` file (CRLF or LF; blank lines ignored)."""
    path = Path(path)
    grasps = [parse_jacquard_line(line, path, i) for i, line in read_ascii_lines(path)]
    if not grasps:
        raise GraspFileError(f"{path}: no grasps in file")
    return grasps


def format_jacquard_line(g: Grasp) -> str:
    """The Jacquard text form of a grasp (no line ending)."""
    return f"{g.x:.5f};{g.y:.5f};{math.degrees(g.angle):.4f};{g.width:.4f};{g.jaw:.4f}"


def write_jacquard_grasps(path: str | Path, grasps: Iterable[Grasp]) -> None:
    """Write grasps in Jacquard's own format, CRLF line endings as in the published files."""
    lines = [format_jacquard_line(g) for g in grasps]
    Path(path).write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))
