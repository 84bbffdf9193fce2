"""The README's picture: the node's debug drawing on one frame of each of the first four
scenes of the sample bag, side by side (synthetic renders, so free to redistribute).

``python tools/readme_picture.py`` writes docs/img/demo_grasps.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mtg_grasp_ros.annotate import draw_detection, write_rgb
from mtg_grasp_ros.bags import IMAGE, Ros2View, iter_messages, open_bag
from mtg_grasp_ros.detector import GraspDetector
from mtg_grasp_ros.resources import default_model_path, params_file, sample_bag
from mtg_grasp_ros.ros.image_codec import image_to_rgb
from mtg_grasp_ros.settings import settings_from

REPO = Path(__file__).resolve().parents[1]


def bag_images(bag: Path, indices: set[int]) -> list[np.ndarray]:
    """The RGB images of ``bag``'s camera topic at ``indices`` (in bag order)."""
    reader = open_bag(bag)
    try:
        view = Ros2View(reader)
        out = []
        for i, (conn, _, raw) in enumerate(iter_messages(reader, ["/camera/image_raw"])):
            if i in indices:
                out.append(image_to_rgb(view.dst.deserialize_cdr(view.cdr(conn, raw), IMAGE)))
        return out
    finally:
        reader.close()


def main() -> None:
    """Draw the frames with the bundled model and the shipped parameters; write the strip."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "demo_grasps.png")
    args = parser.parse_args()
    settings, _ = settings_from(params_file())
    detector = GraspDetector(default_model_path(), device="cpu", precision="fp32")
    tiles = []
    for rgb in bag_images(sample_bag(), {1, 5, 9, 13}):
        det = detector.detect(rgb, post=settings.post, with_quality_map=True)
        tiles.append(draw_detection(rgb, det.grasps, det.quality_map, det.view))
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    strip = np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_rgb(args.out, strip)
    print(f"wrote {args.out} ({strip.shape[1]}x{strip.shape[0]})")


if __name__ == "__main__":
    main()
