"""Training configuration: a YAML file per Table I variant, every value overridable.

The file is a two-level mapping (section -> key -> value) checked against the dataclasses
below: an unknown section or key is an error naming it, so a typo never trains silently
with a default. ``--set section.key=value`` (value parsed as YAML) overrides any entry.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from ..datasets.augment import AugmentConfig
from ..datasets.targets import CUT_OBJECTS
from ..losses import LOSSES
from ..model import ModelConfig
from ..postprocess import PostprocessConfig


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key or file."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-4`` as a float, as YAML 1.2 does: YAML 1.1 (PyYAML) wants a
    dot in the mantissa and would hand ``lr: 1e-4`` over as the string '1e-4'.
    """


_Loader.add_implicit_resolver(  # PyYAML copies the resolver table for the subclass
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def parse_yaml(text: str) -> Any:
    """YAML as this module reads it (config files and ``--set`` values)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


@dataclass(frozen=True)
class DataConfig:
    """How the dataset is read: format, bad scenes, image cache."""

    format: str = "auto"          # auto | jacquard | cornell
    skip_bad: bool = False        # skip and count bad scenes instead of stopping
    cache: str | None = None      # directory of decoded, downscaled training images
    cache_side: int = 600         # cached short side: input_size / zoom_min keeps all detail
    #: Grasps on objects the view's edge cuts: ``keep`` them, or ``drop`` them (taught as
    #: background; needs the scenes' masks). See ``datasets.targets.drop_cut_objects``.
    cut_objects: str = "keep"

    def __post_init__(self) -> None:
        if self.cut_objects not in CUT_OBJECTS:
            raise ValueError(f"cut_objects must be one of {CUT_OBJECTS}, got "
                             f"{self.cut_objects!r}")


@dataclass(frozen=True)
class SplitConfig:
    """Which k-fold split and fold the run trains on."""

    kind: str = "image"           # image | object
    folds: int = 5
    seed: int = 0
    fold: int = 0
    file: str | None = None       # reuse this split file instead of making one


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation: epochs, batch size, learning rate and schedule, device, workers."""

    epochs: int = 40
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    workers: int = -1             # -1: min(8, CPUs - 1)
    device: str = "auto"
    batches_per_epoch: int | None = None   # None: the whole training set each epoch
    val_batches: int | None = None         # None: the whole validation set
    schedule: str = "constant"    # constant | cosine (per step, down to lr * lr_min_factor)
    lr_min_factor: float = 0.05
    precision: str = "fp32"       # auto | fp32 | bf16 | fp16 (mtg_grasp_ros.precision)
    channels_last: bool = False   # NHWC activations (about 2x faster convolutions on CPU)
    threads: int | None = None    # torch CPU threads (None: torch's default)
    init: str | None = None       # model (.safetensors) or checkpoint (.pt) to start from
    #: Average the weights at the end of the last N epochs (stochastic weight averaging; the
    #: networks have no batch norm to re-estimate); the average is validated after the last
    #: epoch and chosen over the best epoch when its validation accuracy is at least as high.
    average_last: int = 0
    #: Which epoch's weights become ``best``: ``val`` (the best validation accuracy) or
    #: ``last`` (the last epoch: a rule fixed in advance, for sets too small to validate on).
    select: str = "val"


@dataclass(frozen=True)
class TrainConfig:
    """One training variant: model, loss, data, augmentation, split, optimisation, postprocess."""

    name: str = "mtgcnn_p_depth"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: str = "positional"
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)

    def to_dict(self) -> dict[str, Any]:
        """The config as nested plain dicts (as written to ``config.yaml``)."""
        return asdict(self)

    @property
    def label(self) -> tuple[str, str]:
        """(Table I model name, auxiliary task) of this variant."""
        base = "GG-CNN" if self.model.arch == "ggcnn2" else "MTG-CNN"
        return base + ("p" if self.loss == "positional" else ""), \
            (self.model.aux or "-").capitalize() if self.model.aux else "-"


SECTIONS = {"model": ModelConfig, "data": DataConfig, "augment": AugmentConfig,
            "split": SplitConfig, "optim": OptimConfig, "postprocess": PostprocessConfig}
SCALARS = ("name", "loss")
SCHEDULES = ("constant", "cosine")
SELECTIONS = ("val", "last")


def learning_rate(cfg: OptimConfig, epoch: int, batch: int, batches: int) -> float:
    """The learning rate at ``batch`` of ``batches`` in ``epoch`` (0-based): a function of
    the position only, so a resumed run follows the same schedule without saved state.
    """
    if cfg.schedule == "constant":
        return cfg.lr
    t = (epoch + batch / max(batches, 1)) / max(cfg.epochs, 1)
    low = cfg.lr * cfg.lr_min_factor
    return low + (cfg.lr - low) * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))


def from_dict(d: dict[str, Any], source: str = "<config>") -> TrainConfig:
    """Build and validate a TrainConfig; unknown keys and bad values name ``source``."""
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: expected a mapping at top level")
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        if key in SCALARS:
            kwargs[key] = value
        elif key in SECTIONS:
            cls = SECTIONS[key]
            names = {f.name for f in fields(cls)}
            if not isinstance(value, dict) or set(value) - names:
                unknown = sorted(set(value) - names) if isinstance(value, dict) else value
                raise ConfigError(f"{source}: unknown keys in '{key}': {unknown}"
                                  f"; expected some of {sorted(names)}")
            try:
                kwargs[key] = cls(**value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{source}: section '{key}': {exc}") from None
        else:
            raise ConfigError(f"{source}: unknown section {key!r}; expected "
                              f"{sorted(SCALARS + tuple(SECTIONS))}")
    cfg = TrainConfig(**kwargs)
    for name in ("lr", "weight_decay"):
        value = getattr(cfg.optim, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: optim.{name} must be a number, got {value!r}")
    if cfg.loss not in LOSSES:
        raise ConfigError(f"{source}: loss must be one of {LOSSES}, got {cfg.loss!r}")
    if cfg.optim.epochs < 1 or cfg.optim.batch_size < 1 or cfg.optim.lr <= 0:
        raise ConfigError(f"{source}: epochs and batch_size must be >= 1 and lr > 0")
    if cfg.optim.schedule not in SCHEDULES:
        raise ConfigError(f"{source}: optim.schedule must be one of {SCHEDULES}, got "
                          f"{cfg.optim.schedule!r}")
    if cfg.optim.select not in SELECTIONS:
        raise ConfigError(f"{source}: optim.select must be one of {SELECTIONS}, got "
                          f"{cfg.optim.select!r}")
    if not 0.0 <= cfg.optim.lr_min_factor <= 1.0:
        raise ConfigError(f"{source}: optim.lr_min_factor must be in [0, 1]")
    from ..precision import PRECISIONS

    if cfg.optim.precision not in PRECISIONS:
        raise ConfigError(f"{source}: optim.precision must be one of {PRECISIONS}, got "
                          f"{cfg.optim.precision!r}")
    if not 0 <= cfg.optim.average_last <= cfg.optim.epochs:
        raise ConfigError(f"{source}: optim.average_last must be in [0, optim.epochs = "
                          f"{cfg.optim.epochs}], got {cfg.optim.average_last}")
    if cfg.optim.threads is not None and cfg.optim.threads < 1:
        raise ConfigError(f"{source}: optim.threads must be >= 1, got {cfg.optim.threads}")
    if cfg.model.aux is not None and cfg.model.arch == "ggcnn2":
        raise ConfigError(f"{source}: ggcnn2 has no auxiliary branch")
    return cfg


def load_config(path: str | Path) -> TrainConfig:
    """A checked TrainConfig from a YAML file; ConfigError names the file and problem."""
    path = Path(path)
    try:
        doc = parse_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    return from_dict(doc or {}, str(path))


def apply_overrides(cfg: TrainConfig, assignments: list[str]) -> TrainConfig:
    """Apply ``section.key=value`` (or ``name=value``) strings; values are parsed as YAML."""
    d = cfg.to_dict()
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. optim.lr=0.0005")
        value = parse_yaml(text) if text.strip() else None
        parts = key.strip().split(".")
        if len(parts) == 1 and parts[0] in SCALARS:
            d[parts[0]] = value
        elif len(parts) == 2 and parts[0] in d and isinstance(d[parts[0]], dict) \
                and parts[1] in d[parts[0]]:
            d[parts[0]][parts[1]] = value
        else:
            raise ConfigError(f"override {item!r}: no config entry {key!r}")
    return from_dict(d, "command-line overrides")


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write ``cfg`` as YAML that :func:`load_config` reads back."""
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def with_optim(cfg: TrainConfig, **changes: Any) -> TrainConfig:
    """``cfg`` with some optimisation settings changed."""
    return replace(cfg, optim=replace(cfg.optim, **changes))
