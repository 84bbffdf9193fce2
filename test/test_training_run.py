"""A short real training run: the loss falls, an interrupted run resumes to the same weights
as an uninterrupted one, and the result evaluates, exports (safetensors + ONNX) and plots.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mtg_grasp_ros.cli import main
from mtg_grasp_ros.datasets import open_dataset
from mtg_grasp_ros.datasets.splits import Fold, Split, save_split
from mtg_grasp_ros.model_io import load_model

REPO = Path(__file__).resolve().parents[1]
TIMING = ("train_seconds", "train_images_per_s", "data_wait_fraction", "val_seconds")


def _rows(run: Path) -> list[dict]:
    with (run / "metrics.csv").open() as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def runs(jacquard_samples, tmp_path_factory):
    """Run A: two epochs straight. Run B: stopped after one epoch, then resumed."""
    tmp = tmp_path_factory.mktemp("train")
    ids = [r.id for r in open_dataset(jacquard_samples).records]
    split = tmp / "split.json"
    save_split(Split("image", 1, 0, [Fold(ids[:3], ids[3:4], ids[4:])]), split)
    common = ["train", "--config", str(REPO / "config/train/mtgcnn_p_saliency.yaml"),
              "--data", str(jacquard_samples), "--epochs", "2", "--batch-size", "2",
              "--workers", "0", "--split", str(split), "--set", "model.input_size=100",
              "--set", "optim.average_last=2", "--no-progress"]
    a, b = tmp / "a", tmp / "b"
    assert main(common + ["--out", str(a)]) == 0
    assert main(common + ["--out", str(b), "--stop-after", "1"]) == 0
    interrupted = {"rows": _rows(b), "test": (b / "test.json").exists(),
                   "last": torch.load(b / "last.pt", weights_only=True)}
    # Resume with a DataLoader worker: the data must not depend on the worker count.
    assert main(["train", "--resume", "--data", str(jacquard_samples), "--out", str(b),
                 "--workers", "1", "--no-progress"]) == 0
    return {"a": a, "b": b, "split": split, "data": jacquard_samples,
            "interrupted": interrupted}


def test_loss_falls_and_run_directory_is_complete(runs):
    rows = _rows(runs["a"])
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])
    for name in ("config.yaml", "run.json", "last.pt", "best.pt", "best.safetensors", "test.json"):
        assert (runs["a"] / name).is_file(), name
    assert list((runs["a"] / "tb").glob("events.out.tfevents.*"))
    test = json.loads((runs["a"] / "test.json").read_text())
    assert test["total"] == 1 and test["model"] == "MTG-CNNp" and test["aux"] == "Saliency"


def test_resumed_run_ends_identical_to_uninterrupted_run(runs):
    assert len(runs["interrupted"]["rows"]) == 1 and not runs["interrupted"]["test"]
    a = torch.load(runs["a"] / "last.pt", weights_only=True)
    b = torch.load(runs["b"] / "last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(),
                      strict=True):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"])
    assert _rows(runs["a"]) == _rows(runs["b"])
    assert len(json.loads((runs["b"] / "run.json").read_text())["commands"]) == 2


def test_weights_of_the_last_epochs_are_averaged_across_a_resume(runs):
    first = runs["interrupted"]["last"]
    assert first["average"]["n_averaged"] == 1
    for k, v in first["model"].items():
        assert torch.equal(first["average"][f"module.{k}"], v), k
    final = [torch.load(runs[r] / "last.pt", weights_only=True) for r in ("a", "b")]
    for last in final:
        assert last["average"]["n_averaged"] == 2
        for k, v in last["model"].items():
            torch.testing.assert_close(last["average"][f"module.{k}"],
                                       (first["model"][k] + v) / 2, rtol=1e-5, atol=1e-7)
    best = torch.load(runs["a"] / "best.pt", weights_only=True)
    test = json.loads((runs["a"] / "test.json").read_text())
    assert test["averaged_epochs"] == best.get("averaged_epochs", 0) in (0, 2)
    if test["averaged_epochs"]:     # chosen: best.pt holds the average itself
        for k, v in final[0]["average"].items():
            if k != "n_averaged":
                assert torch.equal(best["model"][k.removeprefix("module.")], v), k


def test_train_errors_are_plain_messages(runs, tmp_path, capsys):
    base = ["train", "--config", str(REPO / "config/train/ggcnn.yaml"), "--data",
            str(runs["data"]), "--no-progress"]
    assert main(base + ["--out", str(runs["a"])]) == 2
    assert "already holds a run; use --resume" in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "new"), "--resume"]) == 2
    assert "last.pt: no such checkpoint" in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "x"), "--set", "optim.lr=-1"]) == 2
    assert "lr > 0" in capsys.readouterr().err


def test_measure_loading_with_cache(runs, tmp_path, capsys):
    assert main(["train", "--config", str(REPO / "config/train/mtgcnn_depth.yaml"), "--data",
                 str(runs["data"]), "--out", str(tmp_path / "m"), "--measure-loading",
                 "--batch-size", "2", "--batches-per-epoch", "1", "--workers", "0",
                 "--cache", str(tmp_path / "cache"), "--set", "model.input_size=100"]) == 0
    out = capsys.readouterr().out
    assert out.count("images/s (workers 0, cache on)") == 2
    assert 2 <= len(list((tmp_path / "cache").glob("*.npz"))) <= 4  # 2 images a pass


def test_evaluate_command_matches_the_runs_test_accuracy(runs, tmp_path):
    out = tmp_path / "eval.json"
    r = subprocess.run([sys.executable, "-m", "mtg_grasp_ros.cli", "evaluate", "--model",
                        str(runs["a"] / "best.safetensors"), "--data", str(runs["data"]),
                        "--split", str(runs["split"]), "--fold", "0", "--workers", "0",
                        "--json", str(out)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    test = json.loads((runs["a"] / "test.json").read_text())
    assert doc["accuracy"] == test["accuracy"] and doc["total"] == 1
    assert f"correct grasps: {doc['correct']}/1" in r.stdout
    assert doc["images"][0]["id"] == test["images"][0]["id"]
    assert doc["images"][0].get("grasp") == test["images"][0].get("grasp")


def test_export_writes_the_grasp_only_model_and_onnx(runs, tmp_path, capsys):
    out = tmp_path / "models" / "mtgcnn_p_saliency"
    assert main(["export", "--checkpoint", str(runs["a"] / "best.pt"), "--out", str(out),
                 "--onnx"]) == 0
    model, meta = load_model(out.with_suffix(".safetensors"))
    test = json.loads((runs["a"] / "test.json").read_text())
    assert meta.grasp_only and meta.config.arch == "ggcnn2" and meta.config.input_size == 100
    assert meta.accuracy == test["accuracy"] and meta.trained_on == str(runs["data"].resolve())
    assert meta.extra["trained_as"] == "mtgcnn+saliency" and "export" in meta.extra["command"]
    full, _ = load_model(runs["a"] / "best.safetensors")
    x = torch.randn(2, 3, 100, 100)
    with torch.no_grad():
        got, ref = model(x), full(x)
    for k in ("q", "cos", "sin", "width"):
        assert torch.equal(got[k], ref[k])
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    path = out.with_suffix(".onnx")
    onnx.checker.check_model(onnx.load(str(path)))
    outs = ReferenceEvaluator(str(path)).run(None, {"image": x[:1].numpy()})
    for o, k in zip(outs, ("q", "cos", "sin", "width"), strict=True):
        assert abs(o - ref[k][:1].numpy()).max() < 1e-4


def test_evaluate_folds_and_plots(runs, tmp_path, capsys):
    assert main(["evaluate-folds", str(runs["a"])]) == 0
    out = capsys.readouterr().out
    assert "Auxiliary Task" in out and "MTG-CNNp" in out and "Saliency" in out
    # one fold has no spread: the row says so instead of printing a std of 0
    assert re.search(r"MTG-CNNp\s+Saliency\s+\d+\.\d\d% \(1 fold\)", out)
    assert main(["evaluate-folds", str(runs["a"]), str(runs["b"])]) == 2   # fold 0 twice
    png = tmp_path / "curves.png"
    assert main(["plot", "curves", str(runs["a"]), str(runs["b"]), "--out", str(png)]) == 0
    assert cv2.imread(str(png)) is not None
    sheet = tmp_path / "sheet.png"
    assert main(["plot", "sheet", "--model", str(runs["a"] / "best.pt"), "--data",
                 str(runs["data"]), "--split", str(runs["split"]), "--out", str(sheet),
                 "--device", "cpu"]) == 0
    assert cv2.imread(str(sheet)).shape[2] == 3


def test_training_on_generated_cornell_files(tmp_path):
    """Retraining on one's own Cornell-format data: a bright bar, a rectangle across it."""
    from mtg_grasp_ros.grasp import Grasp

    rng = np.random.default_rng(0)
    for i in range(6):
        x, y, a = rng.uniform(250, 390), rng.uniform(170, 310), rng.uniform(-1.5, 1.5)
        image = np.full((480, 640, 3), 90, np.uint8)
        bar = Grasp(x, y, a + np.pi / 2, 160.0, 30.0)   # the object: a long bar
        cv2.fillPoly(image, [np.round(bar.corners()).astype(np.int32)], (230, 230, 230))
        cv2.imwrite(str(tmp_path / f"pcd{i:04d}r.png"), image)
        corners = Grasp(x, y, a, 60.0, 20.0).corners()
        (tmp_path / f"pcd{i:04d}cpos.txt").write_text(
            "".join(f"{px:.3f} {py:.3f}\n" for px, py in corners))
    out = tmp_path / "run"
    assert main(["train", "--config", str(REPO / "config/train/ggcnn_p.yaml"), "--data",
                 str(tmp_path), "--out", str(out), "--epochs", "1", "--batch-size", "2",
                 "--workers", "0", "--no-progress", "--set", "model.input_size=64",
                 "--set", "split.folds=3"]) == 0
    test = json.loads((out / "test.json").read_text())
    assert test["total"] == 1 and test["images"][0]["id"].startswith("pcd")


def test_export_of_last_checkpoint_claims_no_accuracy(runs, tmp_path):
    out = tmp_path / "last_model"
    assert main(["export", "--checkpoint", str(runs["b"] / "last.pt"), "--out", str(out)]) == 0
    _, meta = load_model(out.with_suffix(".safetensors"))
    assert meta.accuracy is None and meta.extra["epoch"] == 2


def test_export_of_last_checkpoint_takes_its_measured_test_accuracy(runs, tmp_path, capsys):
    last, report = runs["b"] / "last.pt", tmp_path / "eval.json"
    assert main(["evaluate", "--model", str(last), "--data", str(runs["data"]), "--split",
                 str(runs["split"]), "--part", "test", "--workers", "0",
                 "--json", str(report)]) == 0
    out = tmp_path / "last_model"
    assert main(["export", "--checkpoint", str(last), "--out", str(out),
                 "--measured", str(report)]) == 0
    _, meta = load_model(out.with_suffix(".safetensors"))
    doc = json.loads(report.read_text())
    assert meta.accuracy == doc["accuracy"] and meta.extra["accuracy_is"].startswith(
        f"test accuracy, fold 0 ({doc['correct']}/{doc['total']}")
    # a report of another model, or of the validation part, is refused by name
    assert main(["export", "--checkpoint", str(runs["a"] / "last.pt"), "--out", str(out),
                 "--measured", str(report)]) == 2
    assert f"measures {last}, not" in capsys.readouterr().err
    doc["part"] = "val"
    report.write_text(json.dumps(doc))
    assert main(["export", "--checkpoint", str(last), "--out", str(out),
                 "--measured", str(report)]) == 2
    assert "the val part; export needs the test part" in capsys.readouterr().err
