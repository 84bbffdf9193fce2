"""Shared test fixtures: paths to the real data in ../shared, and an isolated ROS domain."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MTG_SHARED_DIR", REPO.parent / "shared"))
JACQUARD_SAMPLES = SHARED / "data" / "jacquard_samples"
ROS1_BAGS = SHARED / "data" / "bags"
CORNELL_SAMPLES = SHARED / "data" / "cornell_samples"



def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess that runs this checkout's code: the repository is put
    in front of PYTHONPATH, not in its place, so that a sourced Humble or Jazzy (whose rclpy is
    found only through PYTHONPATH) stays visible to the child.
    """
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, **extra)


# One random DDS domain per test run, so that parallel runs on one machine never talk.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 101)))


@pytest.fixture(scope="session")
def jacquard_samples() -> Path:
    if not JACQUARD_SAMPLES.is_dir():
        pytest.skip(f"real Jacquard samples not found at {JACQUARD_SAMPLES}")
    return JACQUARD_SAMPLES


@pytest.fixture(scope="session")
def cornell_samples() -> Path:
    if not CORNELL_SAMPLES.is_dir():
        pytest.skip(f"real Cornell samples not found at {CORNELL_SAMPLES}")
    return CORNELL_SAMPLES
