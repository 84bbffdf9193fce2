"""Saving and loading networks with their metadata, safely (safetensors: no pickle).

A model file is a ``.safetensors`` file whose header metadata holds one JSON document under
the key ``mtg_grasp``: the network's :class:`ModelConfig`, the input normalisation, what it
was trained on and its measured accuracy. Training checkpoints (with optimiser state) are a
different thing, owned by the training package.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .atomic import atomic_path, remove_stale_temps
from .model import GraspCNN, ModelConfig, grasp_state_dict

FORMAT = "mtg_grasp/1"
METADATA_KEY = "mtg_grasp"
#: The input normalisation every model of this project expects (see preprocess.normalise).
NORMALISATION = "rgb/255 minus per-image mean"


class ModelFileError(ValueError):
    """A file that is not an mtg_grasp model, or not the model that was asked for."""


@dataclass
class ModelMetadata:
    """What travels with the weights; ``extra`` is free-form (training command, data, ...)."""

    config: ModelConfig
    grasp_only: bool
    normalisation: str = NORMALISATION
    trained_on: str = "untrained"
    accuracy: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The metadata as the JSON stored in the file header (with the format tag)."""
        d = asdict(self)
        d["format"] = FORMAT
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, path: Path) -> ModelMetadata:
        """Parse and check the metadata; an error names ``path`` and the bad field."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{path}: malformed mtg_grasp metadata ({exc})") from None
        if not isinstance(d, dict):
            raise ModelFileError(f"{path}: mtg_grasp metadata is not a JSON object")
        if d.pop("format", None) != FORMAT:
            raise ModelFileError(f"{path}: unsupported model format, expected {FORMAT!r}")
        _check_fields(d, _METADATA_FIELDS, "", path)
        _check_fields(d["config"], _CONFIG_FIELDS, "config.", path)
        config = d["config"]
        try:
            d["config"] = ModelConfig(**config)
        except ValueError as exc:
            field_name = next((k for k in config if str(exc).startswith(k)), None)
            where = f"field 'config.{field_name}'" if field_name else "'config'"
            raise ModelFileError(f"{path}: metadata {where}: {exc}") from None
        return cls(**d)


# Metadata fields: name -> (accepted JSON types, required). bool is not accepted as int.
_METADATA_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "config": ((dict,), True), "grasp_only": ((bool,), True),
    "normalisation": ((str,), False), "trained_on": ((str,), False),
    "accuracy": ((int, float, type(None)), False), "extra": ((dict,), False)}
_CONFIG_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "arch": ((str,), True), "aux": ((str, type(None)), True), "upsample": ((str,), True),
    "input_channels": ((int,), True), "input_size": ((int,), True)}


def _check_fields(d: Any, spec: dict[str, tuple[tuple[type, ...], bool]], prefix: str,
                  path: Path) -> None:
    """Refuse unknown, missing or ill-typed fields of a metadata object, naming the field."""
    if not isinstance(d, dict):
        raise ModelFileError(f"{path}: metadata field '{prefix.rstrip('.')}' must be an object")
    for key in d:
        if key not in spec:
            raise ModelFileError(f"{path}: unknown metadata field '{prefix}{key}'; expected "
                                 f"some of {sorted(spec)}")
    for key, (types, required) in spec.items():
        if key not in d:
            if required:
                raise ModelFileError(f"{path}: metadata field '{prefix}{key}' is missing")
            continue
        value = d[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ModelFileError(f"{path}: metadata field '{prefix}{key}' must be {names}, "
                                 f"got {value!r}"[:300])
    if prefix == "" and d.get("normalisation", NORMALISATION) != NORMALISATION:
        raise ModelFileError(f"{path}: metadata field 'normalisation' is "
                             f"{d['normalisation']!r}"[:200] + f"; this project feeds images as "
                             f"{NORMALISATION!r} only")
    acc = d.get("accuracy") if prefix == "" else None
    if acc is not None and not (math.isfinite(acc) and 0.0 <= acc <= 100.0):
        raise ModelFileError(f"{path}: metadata field 'accuracy' must be a percentage in "
                             f"0..100 or null, got {acc!r}")


def save_model(model: GraspCNN, path: str | Path, *, grasp_only: bool = False,
               trained_on: str = "untrained", accuracy: float | None = None,
               extra: dict[str, Any] | None = None) -> ModelMetadata:
    """Write ``model`` (or its grasp branch only) and metadata to ``path`` atomically."""
    path = Path(path)
    net = model.grasp_only() if grasp_only else model
    meta = ModelMetadata(net.config, grasp_only=grasp_only or not model.has_aux,
                         trained_on=trained_on, accuracy=accuracy, extra=dict(extra or {}))
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    remove_stale_temps(path)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={METADATA_KEY: meta.to_json()})
    return meta


def read_metadata(path: str | Path) -> ModelMetadata:
    """The metadata of a model file, without loading its weights."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: not a safetensors model file ({exc})") from None
    if METADATA_KEY not in header:
        raise ModelFileError(f"{path}: a safetensors file, but not an mtg_grasp model "
                             f"(no '{METADATA_KEY}' metadata)")
    return ModelMetadata.from_json(header[METADATA_KEY], path)


def load_model(path: str | Path, *, grasp_only: bool = False, expect_arch: str | None = None,
               device: str | torch.device = "cpu") -> tuple[GraspCNN, ModelMetadata]:
    """Load a model file; ``grasp_only`` drops an auxiliary branch; eval mode on ``device``.

    ``expect_arch`` refuses a model of another architecture with a clear error.
    """
    path = Path(path)
    meta = read_metadata(path)
    if expect_arch is not None and meta.config.arch != expect_arch:
        raise ModelFileError(f"{path}: holds a {meta.config.arch!r} network, expected "
                             f"{expect_arch!r}")
    state = load_file(str(path))
    config = meta.config
    if grasp_only and config.aux is not None:
        config = ModelConfig("ggcnn2", None, config.upsample, config.input_channels,
                             config.input_size)
        state = grasp_state_dict(state)
        meta = ModelMetadata(config, True, meta.normalisation, meta.trained_on, meta.accuracy,
                             meta.extra)
    model = GraspCNN(config)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelFileError(f"{path}: weights do not fit a {config.arch} network "
                             f"({str(exc).splitlines()[0]})") from None
    return model.to(device).eval(), meta
