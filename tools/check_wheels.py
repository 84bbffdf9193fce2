"""Check that every pin of a requirements file has a wheel for each target Python.

    python tools/check_wheels.py requirements-node.txt --python 3.10 3.12

`pip download --python-version` evaluates environment markers against the running interpreter,
not the target, so this script evaluates the markers itself for each target Python and then
asks pip for exactly one binary wheel per pin (``--no-deps --only-binary=:all:``, Linux x86_64).
Needs network access to the package index; exits 1 when a pin has no wheel.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement

PLATFORMS = ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "any"]


def read_requirements(path: Path) -> list[Requirement]:
    """The requirements of ``path``, following ``-r other.txt`` lines (relative to ``path``)."""
    reqs: list[Requirement] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            reqs += read_requirements(path.parent / line.split(None, 1)[1])
        elif line.startswith("-"):
            raise ValueError(f"{path}: option lines other than -r are not supported: {raw!r}")
        else:
            reqs.append(Requirement(line))
    return reqs


def pins_for(path: Path, python: str) -> dict[str, str]:
    """Name -> pinned version of the requirements that apply on CPython ``python`` on Linux.

    Raises ValueError for a requirement that is not pinned with ``==`` or pinned twice.
    """
    env = {"python_version": python, "python_full_version": f"{python}.0",
           "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
           "implementation_name": "cpython", "platform_python_implementation": "CPython",
           "os_name": "posix"}
    pins: dict[str, str] = {}
    for req in read_requirements(path):
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            raise ValueError(f"{path}: {req} is not pinned with a single ==")
        if req.name.lower() in pins:
            raise ValueError(f"{path}: {req.name} is pinned twice for Python {python}")
        pins[req.name.lower()] = specs[0].version
    return pins


def has_wheel(name: str, version: str, python: str) -> bool:
    """Whether pip finds a binary wheel of ``name==version`` for CPython ``python``."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--python-version", python, *[a for p in PLATFORMS for a in ("--platform", p)],
               "-d", tmp, f"{name}=={version}"]
        return subprocess.run(cmd, capture_output=True).returncode == 0


def main() -> int:
    """Check every pinned requirement has a wheel for each Python the users have."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("requirements", type=Path)
    ap.add_argument("--python", nargs="+", default=["3.10", "3.12"])
    args = ap.parse_args()
    missing = 0
    for python in args.python:
        for name, version in pins_for(args.requirements, python).items():
            ok = has_wheel(name, version, python)
            missing += not ok
            print(f"{'OK' if ok else 'NO WHEEL'}  py{python}  {name}=={version}", flush=True)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
