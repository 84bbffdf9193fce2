"""``mtg_grasp blend``: the weight-space mix of a model and its fine-tuned descendant."""

import pytest
import torch

from mtg_grasp_ros.cli import main
from mtg_grasp_ros.model import build_model
from mtg_grasp_ros.model_io import load_model, read_metadata, save_model


@pytest.fixture
def pair(tmp_path):
    """Two grasp-only model files of the same shape, and one of another shape."""
    paths = {}
    for seed, name, upsample in ((0, "base", "transpose"), (1, "tuned", "transpose"),
                                 (2, "other", "bilinear")):
        torch.manual_seed(seed)
        paths[name] = tmp_path / f"{name}.safetensors"
        save_model(build_model("mtgcnn", "depth", upsample), paths[name], grasp_only=True,
                   trained_on=f"data of {name}")
    return paths


def _weights(path):
    return load_model(path)[0].state_dict()


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_each_weight_is_the_mix(pair, tmp_path, alpha, capsys):
    out = tmp_path / "mix"
    assert main(["blend", "--base", str(pair["base"]), "--tuned", str(pair["tuned"]),
                 "--alpha", str(alpha), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    mixed, base, tuned = (_weights(p) for p in (out.with_suffix(".safetensors"), pair["base"],
                                                pair["tuned"]))
    assert set(mixed) == set(base)
    for k, v in mixed.items():
        torch.testing.assert_close(v, (1 - alpha) * base[k] + alpha * tuned[k])
    if alpha in (0.0, 1.0):       # the ends are the models themselves, bit for bit
        ends = base if alpha == 0.0 else tuned
        assert all(torch.equal(v, ends[k]) for k, v in mixed.items())
    meta = read_metadata(out.with_suffix(".safetensors"))
    assert meta.extra["blend"]["alpha"] == alpha and meta.trained_on == "data of tuned"
    assert meta.grasp_only and meta.accuracy is None


def test_refuses_other_shapes_and_alphas_outside_0_1(pair, tmp_path, capsys):
    args = ["blend", "--base", str(pair["base"]), "--out", str(tmp_path / "m")]
    assert main([*args, "--tuned", str(pair["other"]), "--alpha", "0.5"]) == 2
    assert "same shape" in capsys.readouterr().err
    assert main([*args, "--tuned", str(pair["tuned"]), "--alpha", "1.5"]) == 2
    assert "alpha must be in [0, 1]" in capsys.readouterr().err
    assert main([*args, "--tuned", str(tmp_path / "missing.safetensors"),
                 "--alpha", "0.5"]) == 2
    assert "missing.safetensors" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


def test_layer_swap_takes_each_layer_group_from_one_model(pair, tmp_path):
    """``tools/layer_swap.py``: mix k's first k groups come from one model, the rest the other."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "swaps"
    r = subprocess.run([sys.executable, str(repo / "tools" / "layer_swap.py"), "--a",
                        str(pair["base"]), "--b", str(pair["tuned"]), "--out", str(out)],
                       capture_output=True, text=True, timeout=120, cwd=repo)
    assert r.returncode == 0, r.stderr
    groups = r.stdout.splitlines()[0].split(": ")[1].split(", ")
    assert groups[0] == "shared.0" and groups[-1] == "heads" and len(groups) == 9
    a, b = _weights(pair["base"]), _weights(pair["tuned"])
    for first, second, tag in ((a, b, "A"), (b, a, "B")):
        for k in range(1, len(groups)):
            mixed = _weights(out / f"{tag}{k}.safetensors")
            for name, v in mixed.items():
                group = "heads" if name.startswith("heads.") else ".".join(name.split(".")[:2])
                source = first if groups.index(group) < k else second
                assert torch.equal(v, source[name]), (tag, k, name)
    # networks of different shapes cannot be mixed
    r = subprocess.run([sys.executable, str(repo / "tools" / "layer_swap.py"), "--a",
                        str(pair["base"]), "--b", str(pair["other"]), "--out", str(out)],
                       capture_output=True, text=True, timeout=120, cwd=repo)
    assert r.returncode != 0 and "different shapes" in r.stderr
