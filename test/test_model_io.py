"""Model files: round trip with metadata, grasp-only export, and clear errors."""

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
