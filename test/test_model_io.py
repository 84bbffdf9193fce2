"""Model files: round trip with metadata, grasp-only export, and clear errors."""

from pathlib import Path

import pytest
import torch

from mtg_grasp_ros.model import build_model
from mtg_grasp_ros.model_io import ModelFileError, load_model, read_metadata, save_model


def test_round_trip_with_metadata(tmp_path):
    torch.manual_seed(0)
    model = build_model("mtgcnn", "saliency", "bilinear").eval()
    path = tmp_path / "m.safetensors"
    save_model(model, path, trained_on="unit test", accuracy=0.5, extra={"epochs": 3})
    meta = read_metadata(path)
    assert meta.config == model.config and not meta.grasp_only
    assert (meta.trained_on, meta.accuracy, meta.extra) == ("unit test", 0.5, {"epochs": 3})
    loaded, _ = load_model(path)
    x = torch.randn(1, 3, 300, 300)
    for k, v in model(x).items():
        assert torch.equal(v, loaded(x)[k])


def test_grasp_only_file_has_no_aux_weights_and_same_outputs(tmp_path):
    model = build_model("mtgcnn", "depth").eval()
    path = tmp_path / "deploy.safetensors"
    save_model(model, path, grasp_only=True)
    deploy, meta = load_model(path)
    assert meta.grasp_only and meta.config.aux is None
    x = torch.randn(1, 3, 300, 300)
    assert torch.equal(deploy(x)["q"], model(x)["q"])
    full_path = tmp_path / "full.safetensors"
    save_model(model, full_path)
    stripped, meta2 = load_model(full_path, grasp_only=True)
    assert meta2.grasp_only and not stripped.has_aux
    assert torch.equal(stripped(x)["width"], model(x)["width"])


def test_errors_are_clear(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(ModelFileError, match="not a safetensors model file"):
        load_model(junk)
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "missing.safetensors")
    from safetensors.torch import save_file
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(ModelFileError, match="not an mtg_grasp model"):
        load_model(other)
    path = tmp_path / "gg.safetensors"
    save_model(build_model("ggcnn2"), path)
    with pytest.raises(ModelFileError, match="holds a 'ggcnn2' network, expected 'mtgcnn'"):
        load_model(path, expect_arch="mtgcnn")


def _with_metadata(tmp_path, change) -> "Path":
    """A real model file whose metadata JSON was edited by ``change(dict)``."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    good = tmp_path / "good.safetensors"
    save_model(build_model("ggcnn2"), good)
    with safe_open(str(good), framework="pt") as f:
        meta = json.loads(f.metadata()["mtg_grasp"])
    change(meta)
    bad = tmp_path / "bad.safetensors"
    save_file(load_file(str(good)), str(bad), metadata={"mtg_grasp": json.dumps(meta)})
    return bad


@pytest.mark.parametrize("field, value, message", [
    ("input_size", 0, r"'config.input_size': input_size must be an integer in 32..2048, got 0"),
    ("input_size", 100000, r"'config.input_size': input_size must be an integer in 32..2048"),
    ("input_size", 302, r"multiple of 4"),
    ("input_size", "300", r"'config.input_size' must be int, got '300'"),
    ("input_size", True, r"'config.input_size' must be int, got True"),
    ("input_size", 300.0, r"'config.input_size' must be int, got 300.0"),
    ("input_channels", 0, r"'config.input_channels': input_channels must be an integer in 1..4"),
    ("input_channels", 3000, r"'config.input_channels': input_channels must be an integer in"),
    ("arch", 7, r"'config.arch' must be str, got 7"),
    ("arch", "resnet", r"unknown architecture 'resnet'"),
    ("upsample", None, r"'config.upsample' must be str, got None"),
])
def test_bad_config_metadata_names_file_and_field(tmp_path, field, value, message):
    bad = _with_metadata(tmp_path, lambda m: m["config"].__setitem__(field, value))
    with pytest.raises(ModelFileError, match=r"bad.safetensors: metadata .*" + message):
        read_metadata(bad)
    with pytest.raises(ModelFileError, match=r"bad.safetensors: "):
        load_model(bad)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("config"), r"'config' is missing"),
    (lambda m: m["config"].pop("input_size"), r"'config.input_size' is missing"),
    (lambda m: m["config"].__setitem__("depth", 3), r"unknown metadata field 'config.depth'"),
    (lambda m: m.__setitem__("config", [1]), r"'config' must be dict"),
    (lambda m: m.__setitem__("grasp_only", "yes"), r"'grasp_only' must be bool"),
    (lambda m: m.__setitem__("accuracy", 1e9), r"'accuracy' must be a percentage in 0..100"),
    (lambda m: m.__setitem__("accuracy", "high"), r"'accuracy' must be int or float or null"),
    (lambda m: m.__setitem__("extra", []), r"'extra' must be dict"),
    (lambda m: m.__setitem__("normalisation", "imagenet"),
     r"'normalisation' is 'imagenet'; this project feeds images as 'rgb/255 minus"),
    (lambda m: m.__setitem__("size", 3), r"unknown metadata field 'size'"),
])
def test_bad_metadata_fields_are_named(tmp_path, change, message):
    bad = _with_metadata(tmp_path, change)
    with pytest.raises(ModelFileError, match=r"bad.safetensors: .*" + message):
        read_metadata(bad)
