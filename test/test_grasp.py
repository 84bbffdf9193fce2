"""Grasp rectangles, IoU, the Jacquard rule, and the Jacquard grasp file format."""

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest

from mtg_grasp_ros.grasp import (
    Grasp,
    GraspFileError,
    angle_difference,
    format_jacquard_line,
    iou,
    is_correct,
    matches,
    parse_jacquard_line,
    read_jacquard_grasps,
    write_jacquard_grasps,
)


def test_corners_of_an_axis_aligned_grasp():
    g = Grasp(10, 20, 0.0, width=8, jaw=4)
    np.testing.assert_allclose(g.corners(), [[6, 18], [14, 18], [14, 22], [6, 22]])
    np.testing.assert_allclose(g.jaw_tips(), [[6, 20], [14, 20]])


def test_corners_round_trip_and_cornell_order():
    g = Grasp(50.5, 40.25, math.radians(35), 30, 12)
    back = Grasp.from_corners(g.corners())
    assert back.x == pytest.approx(g.x) and back.y == pytest.approx(g.y)
    assert back.angle == pytest.approx(g.angle)
    assert back.width == pytest.approx(30) and back.jaw == pytest.approx(12)


def test_iou_hand_computed_cases():
    a = Grasp(0, 0, 0.0, 10, 10)
    assert iou(a, a) == pytest.approx(1.0)
    assert iou(a, Grasp(100, 0, 0.0, 10, 10)) == 0.0
    # Shifted by half its width: intersection 5x10 = 50, union 150.
    assert iou(a, Grasp(5, 0, 0.0, 10, 10)) == pytest.approx(50 / 150)
    # A 20x10 rectangle turned by 90 deg about its centre: overlap 10x10, union 300.
    r = Grasp(0, 0, 0.0, 20, 10)
    assert iou(r, replace(r, angle=math.pi / 2)) == pytest.approx(100 / 300)
    # A square turned by 90 deg is itself.
    assert iou(a, replace(a, angle=math.pi / 2)) == pytest.approx(1.0)


def test_iou_is_symmetric_and_in_range():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = Grasp(*rng.uniform(0, 50, 2), rng.uniform(-1.6, 1.6), *rng.uniform(1, 40, 2))
        b = Grasp(*rng.uniform(0, 50, 2), rng.uniform(-1.6, 1.6), *rng.uniform(1, 40, 2))
        assert 0.0 <= iou(a, b) <= 1.0
        assert iou(a, b) == pytest.approx(iou(b, a))


def test_angle_difference_wraps_at_plus_minus_90_degrees():
    assert angle_difference(math.radians(89), math.radians(-89)) == pytest.approx(math.radians(2))
    assert angle_difference(math.radians(80), math.radians(-80)) == pytest.approx(math.radians(20))
    assert angle_difference(0.0, math.pi) == pytest.approx(0.0, abs=1e-12)
    assert angle_difference(math.radians(10), math.radians(50)) == pytest.approx(math.radians(40))


def test_jacquard_rule_across_the_wrap():
    truth = Grasp(100, 100, math.radians(85), 40, 20)
    # 85 deg and -80 deg differ by 15 deg: same rectangle otherwise, so correct.
    assert matches(replace(truth, angle=math.radians(-80)), truth)
    # 40 deg away fails the angle rule even with identical position.
    assert not matches(replace(truth, angle=math.radians(45)), truth)
    # Right angle, too far away: IoU below 0.25.
    assert not matches(replace(truth, x=130), truth)
    assert is_correct(replace(truth, x=130), [truth, replace(truth, x=128)])
    assert not is_correct(replace(truth, x=130), [])


def test_jacquard_line_round_trip_and_errors(tmp_path):
    g = parse_jacquard_line("470.14815;253.89551;68.2615;25.5;25.6211")
    assert (g.x, g.y, g.width, g.jaw) == (470.14815, 253.89551, 25.5, 25.6211)
    assert math.degrees(g.angle) == pytest.approx(68.2615)
    assert parse_jacquard_line(format_jacquard_line(g)).angle == pytest.approx(g.angle, abs=1e-6)
    path = tmp_path / "0_x_grasps.txt"
    path.write_bytes(b"1;2;3;4;5\r\n1;2;x;4;5\r\n")
    with pytest.raises(GraspFileError, match=r"0_x_grasps.txt:2: theta_deg is not a number: 'x'"):
        read_jacquard_grasps(path)
    path.write_bytes(b"1;2;3;4\r\n")
    with pytest.raises(GraspFileError, match=r":1: expected 5"):
        read_jacquard_grasps(path)
    path.write_bytes(b"1;2;3;0;5\r\n")
    with pytest.raises(GraspFileError, match=r":1: opening must be > 0"):
        read_jacquard_grasps(path)
    write_jacquard_grasps(path, [g, g])
    assert path.read_bytes().count(b"\r\n") == 2
    assert len(read_jacquard_grasps(path)) == 2


def test_jacquard_file_with_bom_loads(tmp_path):
    path = tmp_path / "0_x_grasps.txt"
    path.write_bytes(b"\xef\xbb\xbf1;2;3;4;5\r\n6;7;8;9;10\r\n")
    grasps = read_jacquard_grasps(path)
    assert [(g.x, g.y, g.width, g.jaw) for g in grasps] == [(1, 2, 4, 5), (6, 7, 9, 10)]


def test_jacquard_non_ascii_byte_names_file_line_and_column(tmp_path):
    path = tmp_path / "0_x_grasps.txt"
    path.write_bytes(b"1;2;3;4;5\r\n6;7;8\xe9;9;10\r\n")
    with pytest.raises(GraspFileError, match=r"0_x_grasps.txt:2: non-ASCII byte 0xe9 at column 6"):
        read_jacquard_grasps(path)
    path.write_bytes(b"\xff\xfe1\x00;\x002\x00")              # UTF-16 text: not ours either
    with pytest.raises(GraspFileError, match=r"0_x_grasps.txt:1: non-ASCII byte 0xff"):
        read_jacquard_grasps(path)


def test_huge_bad_line_is_quoted_short(tmp_path):
    path = tmp_path / "0_x_grasps.txt"
    path.write_bytes(b"1;2;3;4;5\r\n" + b"7" * 20_000_000 + b"\r\n")
    with pytest.raises(GraspFileError) as err:
        read_jacquard_grasps(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:2: expected 5 ';'-separated fields") and len(msg) < 400
    assert "... (20000000 characters)" in msg
    path.write_bytes(b"1;2;" + b"x" * 5_000_000 + b";4;5\r\n")
    with pytest.raises(GraspFileError, match=r":1: theta_deg is not a number") as err:
        read_jacquard_grasps(path)
    assert len(str(err.value)) < 400


@pytest.mark.parametrize("line, field", [(b"nan;2;3;4;5", "x"), (b"1;inf;3;4;5", "y"),
                                         (b"1;2;-inf;4;5", "theta_deg"),
                                         (b"1;2;3;nan;5", "opening"),
                                         (b"1;2;3;4;NaN", "jaw_size")])
def test_non_finite_field_is_named(tmp_path, line, field):
    path = tmp_path / "0_x_grasps.txt"
    path.write_bytes(b"1;2;3;4;5\r\n" + line + b"\r\n")
    with pytest.raises(GraspFileError, match=rf"0_x_grasps.txt:2: {field} must be finite"):
        read_jacquard_grasps(path)


def test_real_jacquard_angles_need_no_sign_flip(jacquard_samples):
    """Jacquard's theta uses the y-down image axis, as this project does.

    Check on the real scenes: the jaw tips of a grasp lie off the object (they close onto it
    from outside), and with the angle's sign flipped they land on the object far more often.
    """
    on_as_is = on_flipped = total = 0
    for scene in sorted(p for p in jacquard_samples.iterdir() if p.is_dir()):
        grasps = read_jacquard_grasps(next(scene.glob("*_grasps.txt")))
        mask = cv2.imread(str(next(scene.glob("*_mask.png"))), cv2.IMREAD_GRAYSCALE) > 0
        for g in grasps:
            for candidate, counter in ((g, "as_is"), (replace(g, angle=-g.angle), "flipped")):
                for x, y in candidate.jaw_tips():
                    xi, yi = int(round(x)), int(round(y))
                    if 0 <= xi < mask.shape[1] and 0 <= yi < mask.shape[0]:
                        if counter == "as_is":
                            on_as_is += mask[yi, xi]
                            total += 1
                        else:
                            on_flipped += mask[yi, xi]
    assert total > 900
    assert on_as_is / total < 0.15
    assert on_flipped > 3 * on_as_is


def test_transform_grasps_is_transformed_on_each():
    """The detector's one-pass mapping of its candidates equals Grasp.transformed per grasp
    (rotated, scaled and shifted views; angles across the +/-90 deg wrap).
    """
    from mtg_grasp_ros.grasp import transform_grasps
    from mtg_grasp_ros.preprocess import View

    rng = np.random.default_rng(5)
    grasps = [Grasp(*rng.uniform(0, 300, 2), rng.uniform(-math.pi / 2, math.pi / 2),
                    *rng.uniform(5, 60, 2), rng.uniform(0, 1)) for _ in range(20)]
    for view in (View.centre_crop((480, 640), 300), View(500.0, 400.0, 640.0, 1.2, 300),
                 View(90.0, 60.0, 100.0, -2.9, 300)):
        got = transform_grasps(grasps, view.inverse)
        for g, t in zip(got, (g.transformed(view.inverse) for g in grasps), strict=True):
            assert (g.x, g.y, g.angle, g.width, g.jaw) == pytest.approx(
                (t.x, t.y, t.angle, t.width, t.jaw), abs=1e-9)
            assert g.quality == t.quality
    assert transform_grasps([], np.eye(2, 3)) == []
