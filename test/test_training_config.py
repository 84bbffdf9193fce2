"""Training configs: the six Table I variants, overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtg_grasp_ros.training.config import ConfigError, apply_overrides, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "config" / "train"
TABLE_I = {"ggcnn": ("GG-CNN", "-"), "ggcnn_p": ("GG-CNNp", "-"),
           "mtgcnn_depth": ("MTG-CNN", "Depth"), "mtgcnn_p_depth": ("MTG-CNNp", "Depth"),
           "mtgcnn_saliency": ("MTG-CNN", "Saliency"),
           "mtgcnn_p_saliency": ("MTG-CNNp", "Saliency")}


@pytest.mark.parametrize("name", sorted(TABLE_I))
def test_each_variant_config_is_the_paper_setting(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.name == name and cfg.label == TABLE_I[name]
    assert (cfg.optim.epochs, cfg.model.input_size, cfg.split.folds) == (40, 300, 5)
    assert cfg.augment.enabled and cfg.postprocess.sigma_q == 5.0


def test_overrides_reach_every_entry_and_typos_are_errors(tmp_path):
    cfg = load_config(CONFIGS / "mtgcnn_p_depth.yaml")
    new = apply_overrides(cfg, ["optim.epochs=2", "augment.rotation=quarter", "data.cache=/c",
                                "postprocess.sigma_q=2", "split.kind=object", "loss=standard"])
    assert (new.optim.epochs, new.augment.rotation, new.data.cache) == (2, "quarter", "/c")
    assert new.postprocess.sigma_q == 2.0 and new.split.kind == "object"
    assert new.loss == "standard" and cfg.optim.epochs == 40
    with pytest.raises(ConfigError, match="no config entry 'optim.epoch'"):
        apply_overrides(cfg, ["optim.epoch=2"])
    with pytest.raises(ConfigError, match="rotation must be one of"):
        apply_overrides(cfg, ["augment.rotation=sideways"])
    with pytest.raises(ConfigError, match=r"average_last must be in \[0, optim.epochs = 40\]"):
        apply_overrides(cfg, ["optim.average_last=41"])
    with pytest.raises(ConfigError, match="cut_objects must be one of"):
        apply_overrides(cfg, ["data.cut_objects=sometimes"])
    from mtg_grasp_ros.training.loop import need_for_training
    assert need_for_training(cfg) == ("rgb", "depth")
    assert need_for_training(apply_overrides(cfg, ["data.cut_objects=drop"])) == \
        ("rgb", "depth", "mask")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: {epochs: 3, lr_typo: 1}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown keys in 'optim': \['lr_typo'\]"):
        load_config(bad)


def test_exponent_floats_without_a_dot_are_numbers(tmp_path):
    """YAML 1.1 reads ``1e-4`` as a string; a config file and ``--set`` both get a float."""
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("optim:\n  lr: 1e-4\n  weight_decay: 5E-5\n")
    cfg = load_config(cfg_file)
    assert cfg.optim.lr == pytest.approx(1e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.optim.weight_decay == pytest.approx(5e-5)
    cfg = apply_overrides(cfg, ["optim.lr=2e-3", "optim.weight_decay=1.5e-6"])
    assert cfg.optim.lr == pytest.approx(2e-3) and cfg.optim.weight_decay == pytest.approx(1.5e-6)
    with pytest.raises(ConfigError, match="optim.lr must be a number, got 'fast'"):
        apply_overrides(cfg, ["optim.lr=fast"])
