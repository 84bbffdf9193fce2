"""From a training checkpoint to the files the node loads (and optionally ONNX)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch

from ..model import GraspCNN, ModelConfig
from ..model_io import ModelMetadata, load_model, save_model
from .checkpoint import CheckpointError, load_checkpoint, require
from .config import from_dict


def model_from_checkpoint(path: str | Path, device: str | torch.device = "cpu"
                          ) -> tuple[GraspCNN, dict[str, Any]]:
    """The full network of a ``best.pt``/``last.pt`` checkpoint, and the checkpoint."""
    ckpt = load_checkpoint(path, device)
    require(ckpt, path, ("config", "model", "epoch"))
    cfg = from_dict(ckpt["config"], f"{path}: 'config'")
    model = GraspCNN(cfg.model)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{path}: 'model' weights do not fit its config's "
                              f"{cfg.model.arch} network ({str(exc).splitlines()[0]})") from None
    return model.to(device).eval(), ckpt


def load_any(path: str | Path, device: str | torch.device = "cpu") -> GraspCNN:
    """A grasp-only network from a model file (``.safetensors``) or a checkpoint (``.pt``)."""
    path = Path(path)
    if path.suffix == ".pt":
        model, _ = model_from_checkpoint(path, device)
        return model.grasp_only().eval()
    return load_model(path, grasp_only=True, device=device)[0]


def run_accuracy(run_dir: Path) -> tuple[float | None, str]:
    """The test accuracy of a run's best model, when the run finished and measured it."""
    test = run_dir / "test.json"
    if test.is_file():
        doc = json.loads(test.read_text())
        return float(doc["accuracy"]), f"test accuracy, fold {doc.get('fold')}"
    return None, ""


def measured_accuracy(report: str | Path, checkpoint: Path) -> tuple[float, str]:
    """The test accuracy in an ``mtg_grasp evaluate --json`` report of ``checkpoint``.

    For a checkpoint the run did not measure (``last.pt``): the report must be of this very
    file, on the test part of a split, so the model file states no figure it was not given.
    """
    report = Path(report)
    try:
        doc = json.loads(report.read_text())
        model, part, split = Path(doc["model"]), doc.get("part"), doc.get("split")
        accuracy, correct, total = float(doc["accuracy"]), doc["correct"], doc["total"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{report}: not an 'mtg_grasp evaluate --json' report ({exc})") from None
    if model.resolve() != checkpoint.resolve():
        raise ValueError(f"{report}: measures {model}, not {checkpoint}")
    if part != "test" or not split:
        raise ValueError(f"{report}: measures {'no split' if not split else f'the {part} part'}"
                         f"; export needs the test part of the run's split")
    return accuracy, f"test accuracy, fold {doc.get('fold')} ({correct}/{total}, {split})"


def _model_file(out: Path) -> Path:
    """``out`` as a model file name: ``models/NAME`` becomes ``models/NAME.safetensors``."""
    return out if out.suffix == ".safetensors" else out.with_name(out.name + ".safetensors")


def export(checkpoint: str | Path, out: str | Path, command: str = "",
           onnx: bool = False, measured: str | Path | None = None
           ) -> tuple[Path, ModelMetadata, Path | None]:
    """Write ``out.safetensors`` (grasp branch only, with metadata) and maybe ``out.onnx``.

    ``measured``: an evaluate report of ``checkpoint`` on a test part, whose accuracy the
    metadata records (for a ``last.pt``; a ``best.pt`` has the run's own test result).
    """
    checkpoint, out = Path(checkpoint), Path(out)
    model, ckpt = model_from_checkpoint(checkpoint)
    cfg = from_dict(ckpt["config"], str(checkpoint))
    target = _model_file(out)
    accuracy: float | None
    if measured is not None:
        accuracy, what = measured_accuracy(measured, checkpoint)
    elif "val_accuracy" in ckpt:   # best.pt: the model the run measured
        accuracy, what = run_accuracy(checkpoint.parent)
        if accuracy is None:
            accuracy, what = ckpt["val_accuracy"], "validation accuracy"
    else:                        # last.pt: its own accuracy was not measured on test data
        accuracy, what = None, ("not measured (export best.pt for the measured model, or "
                                "give --measured)")
    run_file = checkpoint.parent / "run.json"
    data = json.loads(run_file.read_text())["data"] if run_file.is_file() else "unknown"
    meta = save_model(model, target, grasp_only=True, trained_on=data,
                      accuracy=None if accuracy is None else float(accuracy),
                      extra={"command": command, "accuracy_is": what, "variant": cfg.name,
                             "loss": cfg.loss, "trained_as": cfg.model.arch + (
                                 f"+{cfg.model.aux}" if cfg.model.aux else ""),
                             "epoch": int(ckpt["epoch"]), "checkpoint": str(checkpoint)})
    onnx_path = None
    if onnx:
        onnx_path = target.with_suffix(".onnx")
        export_onnx(model.grasp_only().eval(), onnx_path)
    return target, meta, onnx_path


class _Outputs(torch.nn.Module):
    """The grasp network with its dict output as a fixed tuple (q, cos, sin, width)."""

    def __init__(self, net: GraspCNN) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net(x)
        return out["q"], out["cos"], out["sin"], out["width"]


def export_onnx(net: GraspCNN, path: Path) -> None:
    """ONNX of the grasp-only network: input ``image`` (B, 3, S, S) normalised as
    ``preprocess.normalise``; outputs ``q``, ``cos``, ``sin``, ``width``.
    """
    cfg: ModelConfig = net.config
    x = torch.zeros(1, cfg.input_channels, cfg.input_size, cfg.input_size)
    try:
        import onnx  # noqa: F401  (the exporter needs it; say so plainly when it is missing)
    except ImportError:
        raise RuntimeError("ONNX export needs the 'onnx' package: pip install onnx") from None
    # The TorchScript exporter (dynamo=False): the default torch.export-based one needs
    # onnxscript, which this project does not install; for these plain convolutions both
    # give the same graph.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(_Outputs(net).eval(), (x,), str(path), input_names=["image"],
                          output_names=["q", "cos", "sin", "width"], dynamo=False,
                          dynamic_axes={k: {0: "batch"} for k in
                                        ("image", "q", "cos", "sin", "width")})

