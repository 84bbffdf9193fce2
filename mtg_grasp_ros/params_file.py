"""Which node a ROS 2 parameters file applies to, checked before the node starts.

A parameters file's top-level keys are node names matched as rcl matches them: a key without
a leading ``/`` is taken from the root namespace, ``*`` matches one name token and ``**`` any
number of them (``/**`` every node). A key that matches no node is silently ignored by rcl, so
a file written for ``grasp_detector`` does nothing to ``/robot1/grasp_detector``.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import yaml


class ParamsFileError(ValueError):
    """A parameters file that cannot apply to the node it is given to."""


def fully_qualified_name(namespace: str, node: str) -> str:
    """``/ns/node`` from a namespace written with or without slashes."""
    parts = [p for p in namespace.split("/") if p]
    return "/" + "/".join([*parts, node])


def key_matches(key: str, fq_name: str) -> bool:
    """Whether the parameters-file key ``key`` applies to the node ``fq_name``."""
    pattern = [p for p in (key if key.startswith("/") else "/" + key).split("/") if p]
    name = [p for p in fq_name.split("/") if p]
    return _match(pattern, name)


def _match(pattern: list[str], name: list[str]) -> bool:
    if not pattern:
        return not name
    if pattern[0] == "**":
        return any(_match(pattern[1:], name[i:]) for i in range(len(name) + 1))
    return bool(name) and fnmatch.fnmatchcase(name[0], pattern[0]) and _match(pattern[1:],
                                                                               name[1:])


def check_params_file(path: Path, fq_name: str) -> None:
    """Raise :class:`ParamsFileError` naming the file's keys and the ones that would match,
    when no key of ``path`` applies to ``fq_name``.
    """
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ParamsFileError(f"parameters file {path}: cannot be read: {exc}") from None
    if not isinstance(doc, dict) or not doc:
        raise ParamsFileError(f"parameters file {path}: expected node names as top-level keys "
                              f"(e.g. /**/grasp_detector:), found {type(doc).__name__}")
    keys = [str(k) for k in doc]
    if any(key_matches(k, fq_name) for k in keys):
        return
    node = fq_name.rsplit("/", 1)[-1]
    raise ParamsFileError(
        f"parameters file {path}: no key applies to the node {fq_name} (keys: "
        f"{', '.join(keys)}); name it /**/{node} (the node in any namespace) or {fq_name}")
