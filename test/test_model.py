"""The networks: the paper's parameter counts, output shapes, and the deployment form."""

import pytest
import torch

from mtg_grasp_ros.model import (
    GRASP_MAPS,
    ModelConfig,
    build_model,
    count_parameters,
    forward_flops,
)


@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_ggcnn2_has_70548_parameters(upsample):
    assert count_parameters(build_model("ggcnn2", upsample=upsample)) == 70_548


@pytest.mark.parametrize("aux", ["depth", "saliency"])
def test_mtgcnn_has_about_116k_parameters(aux):
    model = build_model("mtgcnn", aux)
    # Shared half (25,072) + two second halves (45,408 each) + 4 grasp heads + 1 aux head.
    assert count_parameters(model) == 115_973
    assert count_parameters(model.grasp_only()) == 70_548


@pytest.mark.parametrize("arch,aux", [("ggcnn2", None), ("mtgcnn", "depth")])
@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_output_shapes(arch, aux, upsample):
    model = build_model(arch, aux, upsample).eval()
    out = model(torch.zeros(2, 3, 300, 300))
    expected = set(GRASP_MAPS) | ({"aux"} if aux else set())
    assert set(out) == expected
    for v in out.values():
        assert v.shape == (2, 1, 300, 300)


def test_deploy_model_equals_full_model_grasp_outputs():
    torch.manual_seed(0)
    full = build_model("mtgcnn", "depth").eval()
    deploy = full.grasp_only().eval()
    assert not any(k.startswith("aux") for k in deploy.state_dict())
    x = torch.randn(3, 3, 300, 300)
    a, b = full(x), deploy(x)
    for k in GRASP_MAPS:
        assert torch.equal(a[k], b[k]), k
    assert "aux" not in b


def test_config_rejects_nonsense():
    with pytest.raises(ValueError, match="auxiliary task"):
        ModelConfig("mtgcnn", None)
    with pytest.raises(ValueError, match="no auxiliary branch"):
        ModelConfig("ggcnn2", "depth")
    with pytest.raises(ValueError, match="unknown architecture"):
        ModelConfig("resnet", None)
    with pytest.raises(ValueError, match="multiple of 4"):
        ModelConfig("ggcnn2", None, input_size=301)


def test_flops_grow_with_the_aux_branch():
    ggcnn = forward_flops(build_model("ggcnn2"))
    mtg = forward_flops(build_model("mtgcnn", "depth"))
    # conv1 alone: 2 * 300*300 * 16 * 3*11*11 multiply-adds.
    assert ggcnn > 2 * 300 * 300 * 16 * 3 * 121
    assert mtg > ggcnn
