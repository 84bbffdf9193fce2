"""The mtg_grasp command line."""

import json
import subprocess
import sys

from mtg_grasp_ros.cli import main


def test_model_info_json(capsys):
    assert main(["model-info", "--arch", "ggcnn2", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters_total"] == info["parameters_deploy"] == 70_548
    assert info["flops_total"] > 1e9


def test_model_info_mtgcnn_text(capsys):
    assert main(["model-info", "--arch", "mtgcnn", "--aux", "saliency"]) == 0
    out = capsys.readouterr().out
    assert "115,973 total" in out and "70,548 deployed" in out


def test_console_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "mtg_grasp_ros.cli", "--help"],
                       capture_output=True, text=True, check=True)
    assert "model-info" in r.stdout
