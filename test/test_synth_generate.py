"""``mtg_grasp generate``: the Jacquard format, determinism, resume and the summary."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mtg_grasp_ros.grasp import read_jacquard_grasps
from mtg_grasp_ros.synth import generate as gen
from mtg_grasp_ros.synth.generate import GenerateConfig, object_name

REPO = Path(__file__).resolve().parents[1]
TINY = ["--objects", "2", "--views", "2", "--size", "128", "--seed", "7"]


def run_cli(out: Path, *extra: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "mtg_grasp_ros.cli", "generate", "--out", str(out),
                        *TINY, "--no-progress", "--json", *extra],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def files(out: Path) -> dict[str, bytes]:
    """Every file of the dataset (not the run's summary, which has timings)."""
    return {str(f.relative_to(out)): f.read_bytes() for f in sorted(out.rglob("*"))
            if f.is_file() and f.name != gen.SUMMARY}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth") / "set"
    return out, run_cli(out, "--workers", "2", "--verify", "2")


def views(out: Path):
    for d in sorted(p for p in out.iterdir() if p.is_dir()):
        for g in sorted(d.glob("*_grasps.txt")):
            yield d, g.name[: -len("grasps.txt")]


def test_tiny_set_is_in_the_jacquard_format(tiny):
    out, summary = tiny
    found = list(views(out))
    assert len(found) == 4 and summary["images"] == 4
    for d, stem in found:
        k, name = stem.rstrip("_").split("_")
        assert k in {"0", "1"} and name == d.name and "_" not in name
        rgb = cv2.imread(str(d / f"{stem}RGB.png"), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(d / f"{stem}mask.png"), cv2.IMREAD_UNCHANGED)
        depth = cv2.imread(str(d / f"{stem}perfect_depth.tiff"), cv2.IMREAD_UNCHANGED)
        stereo = cv2.imread(str(d / f"{stem}stereo_depth.tiff"), cv2.IMREAD_UNCHANGED)
        assert rgb.shape == (128, 128, 3) and rgb.dtype == np.uint8
        assert mask.shape == (128, 128) and mask.dtype == np.uint8
        assert set(np.unique(mask)) == {0, 255}
        assert depth.dtype == np.float32 and depth.shape == (128, 128)
        assert depth.min() > 1.2 and depth.max() < 1.8          # Jacquard's range, metres
        assert stereo.dtype == np.float32 and (stereo == -1).any()
        valid = stereo != -1
        assert np.abs(stereo[valid] - depth[valid]).max() < 0.05
        raw = (d / f"{stem}grasps.txt").read_bytes()
        assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
        grasps = read_jacquard_grasps(d / f"{stem}grasps.txt")
        assert grasps
        for g in grasps:                            # every label's centre is on the object
            assert mask[int(round(g.y)), int(round(g.x))] == 255
            assert 0 < g.width <= 128 and 0 < g.jaw < g.width + 128
        cam = json.loads((d / f"{stem}camera.json").read_text())
        assert set(cam["intrinsics"]) == {"fx", "fy", "cx", "cy", "width", "height"}


def test_files_match_the_real_jacquard_samples(tiny, jacquard_samples):
    out, _ = tiny
    real = next(p for p in sorted(jacquard_samples.iterdir()) if p.is_dir())
    d, stem = next(views(out))
    for suffix in ("RGB.png", "mask.png", "perfect_depth.tiff", "stereo_depth.tiff"):
        ours = cv2.imread(str(d / f"{stem}{suffix}"), cv2.IMREAD_UNCHANGED)
        theirs = cv2.imread(str(next(real.glob(f"*_{suffix}"))), cv2.IMREAD_UNCHANGED)
        assert ours.dtype == theirs.dtype and ours.ndim == theirs.ndim, suffix
        assert ours.shape[2:] == theirs.shape[2:], suffix           # channels
    for suffix in ("perfect_depth.tiff", "stereo_depth.tiff"):
        ours = Image.open(d / f"{stem}{suffix}")
        theirs = Image.open(next(real.glob(f"*_{suffix}")))
        assert ours.mode == theirs.mode == "F"
        assert ours.tag_v2[259] == theirs.tag_v2[259] == 5          # LZW compression
    assert (theirs_min := cv2.imread(str(next(real.glob("*_stereo_depth.tiff"))),
                                     cv2.IMREAD_UNCHANGED).min()) == -1.0, theirs_min
    line = (next(real.glob("*_grasps.txt")).read_bytes().split(b"\r\n")[0])
    ours_line = (d / f"{stem}grasps.txt").read_bytes().split(b"\r\n")[0]
    assert line.count(b";") == ours_line.count(b";") == 4


def test_summary_reports_images_grasps_and_agreement(tiny):
    out, summary = tiny
    assert summary == json.loads((out / gen.SUMMARY).read_text())
    assert summary["grasps_per_image"]["min"] >= 1
    assert summary["verify"]["trials"] == 8
    assert 0.0 <= summary["verify"]["agreement"] <= 1.0
    assert summary["this_run"]["images_made"] == 4
    assert summary["this_run"]["images_per_minute"] > 0


def test_same_seed_same_bytes_whatever_the_workers_and_verify(tiny, tmp_path):
    out, _ = tiny
    again = tmp_path / "again"
    run_cli(again, "--workers", "1")
    a, b = files(out), files(again)
    assert sorted(a) == sorted(b)
    for name in a:
        if name.endswith(gen.MARKER):
            continue        # it records the verify counts, which differ (0 trials here)
        assert a[name] == b[name], name
    other = tmp_path / "other"
    run_cli(other, "--workers", "1", "--seed", "8")
    assert not set(files(other)) & set(a)       # another seed, other names...

    def rgb(fs):
        return sorted(v for k, v in fs.items() if k.endswith("RGB.png"))

    assert rgb(files(other)) != rgb(a)          # ...and other images


def test_rerun_skips_and_repairs_incomplete_objects(tiny, tmp_path):
    out, _ = tiny
    clean = files(out)
    copy = tmp_path / "resumed"
    for name, data in clean.items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(data)
    broken = copy / object_name(7, 1)
    (broken / gen.MARKER).unlink()                                  # lost completion marker
    next(broken.glob("*_RGB.png")).write_bytes(b"half a png")       # and a corrupt image
    (copy / ".tmp-s7-000000-999").mkdir()                           # a killed run's leftover
    summary = run_cli(copy, "--verify", "2")
    assert summary["this_run"]["objects_made"] == 1
    assert summary["this_run"]["objects_skipped"] == 1
    assert files(copy) == clean


def test_killed_run_continues_to_the_clean_result(tmp_path):
    cfg = GenerateConfig(str(tmp_path / "clean"), 3, 2, 3, 96)
    gen.generate(cfg, progress=False)
    clean = files(Path(cfg.out))
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "mtg_grasp_ros.cli", "generate", "--out",
                             str(out), "--objects", "3", "--views", "2", "--seed", "3",
                             "--size", "96", "--no-progress"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / object_name(3, 0) / gen.MARKER).exists():
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    complete = 0
    for d in out.iterdir():         # nothing that looks complete is incomplete
        if d.is_dir() and not d.name.startswith(".tmp-"):
            assert gen.read_marker(d) is not None
            assert len(list(d.glob("*_grasps.txt"))) == 2
            complete += 1
    assert 1 <= complete < 3, "the run was not killed midway"
    summary = gen.generate(dataclasses.replace(cfg, out=str(out)), progress=False)
    assert summary["this_run"]["objects_made"] == 3 - complete
    assert files(out) == clean
