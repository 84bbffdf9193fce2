"""Issue 12's GPU run: the CUDA checks, then fine-tunes of MTG-CNNp depth in one lease.

One call on a lent GPU machine (15 minutes of device time in all, start included):

1. unpack the training set carried as a pack (``tools/device_data.py``);
2. the detector's CUDA path: ``pytest -m cuda test/test_gpu_path.py`` and ``detect`` timed at
   fp32 and at ``auto`` precision (bf16 autocast on a GPU that has it);
3. the loader's throughput with every CPU, so that the epochs fill the time given;
4. the variants below trained side by side on the one GPU (``mtg_grasp train --device cuda``,
   precision ``auto``), each with half the CPUs for its loader; cosine schedule to its end;
5. each run's ``last.pt`` exported, and everything packed into ``$OUT`` to bring back.

Variants (fixed before the run; both start from the shipped model's run, ``last.pt`` of
``runs/world_cut``, with its config):

* ``mix``: the packed training part as it is;
* ``tab2``: the same with every tabletop view (``synth512/``, ``tabletop/``) listed twice.

    python tools/gpu_retrain.py --pack .dev/mix4.tar.xz --init .dev/world_cut_last.pt \
        --train-seconds 345 --out "$OUT"
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config/train/mtgcnn_p_depth_world_cut.yaml"
TABLETOP = ("synth512/", "tabletop/")


def say(text: str) -> None:
    """A timestamped line on stdout (kept in the log that comes back)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def mtg(*args: str) -> list[str]:
    """The command line of ``mtg_grasp`` in this interpreter."""
    return [sys.executable, "-m", "mtg_grasp_ros.cli", *args]


def cuda_checks(device: str, log: Path) -> None:
    """The CUDA tests and the detector's time per frame at fp32 and auto precision."""
    if device == "cpu":
        say("cpu run: CUDA checks skipped")
        return
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p",
                        "no:cacheprovider", "test/test_gpu_path.py"], cwd=REPO, text=True,
                       capture_output=True, timeout=120)
    log.write_text(r.stdout + r.stderr)
    say("pytest -m cuda: " + (r.stdout.strip().splitlines() or ["(no output)"])[-1])
    code = """
import json, torch
from mtg_grasp_ros.detector import GraspDetector
from mtg_grasp_ros.ros.bench import _bare_report, _scene, bare_detect
from mtg_grasp_ros.settings import settings_from
settings, rgb = settings_from()[0], _scene(640, 480)
out = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
for precision in ("fp32", "auto"):
    det = GraspDetector("models/mtgcnn_p_depth_world_cut.safetensors", "cuda", settings.post,
                        precision=precision)
    for n in (30, 300):                       # warm-up, then the timed frames
        totals, stages = [], {}
        for _ in range(n):
            bare_detect(det, rgb, settings, totals, stages)
    out[precision] = {"precision": det.precision, **_bare_report(totals, stages)}
print(json.dumps(out))
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, text=True, capture_output=True,
                       timeout=120)
    say("detect on the GPU, 640x480: " + (r.stdout.strip() or r.stderr.strip()[-2000:]))


def loader_rate(data: Path, split: Path, workers: int, work: Path) -> float:
    """Training images/s the loader gives with ``workers`` processes (second pass)."""
    r = subprocess.run(mtg("train", "--config", str(CONFIG), "--data", str(data), "--split",
                           str(split), "--out", str(work / "measure"), "--workers",
                           str(workers), "--batches-per-epoch", "120", "--measure-loading",
                           "--no-progress"), cwd=REPO, text=True, capture_output=True,
                       timeout=180)
    rates = [float(m) for m in re.findall(r"= ([0-9.]+) images/s", r.stdout)]
    say(f"loader, {workers} workers: {rates} images/s" + ("" if rates else r.stderr[-2000:]))
    return rates[-1] if rates else 100.0


def main() -> int:
    """Run the lease's work; 0 when every variant finished its schedule."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", type=Path, required=True)
    ap.add_argument("--init", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/gpu_retrain"))
    ap.add_argument("--train-seconds", type=float, default=345.0)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--variants", default="mix,tab2")
    a = ap.parse_args()
    t_start = time.time()
    cpus = os.cpu_count() or 2
    a.out.mkdir(parents=True, exist_ok=True)
    a.work.mkdir(parents=True, exist_ok=True)
    say(f"python {sys.version.split()[0]}, {cpus} CPUs, device {a.device}")

    subprocess.run([sys.executable, str(REPO / "tools/device_data.py"), "unpack", str(a.pack),
                    str(a.work), "--workers", str(max(1, cpus - 1))], check=True, cwd=REPO)
    data, split = a.work / "data", a.work / "split.json"
    doc = json.loads(split.read_text())
    train = doc["folds"][0]["train"]
    doc["folds"][0]["train"] = train + [i for i in train if i.startswith(TABLETOP)]
    (a.work / "split_tab2.json").write_text(json.dumps(doc))
    splits = {"mix": split, "tab2": a.work / "split_tab2.json"}
    say(f"unpacked: {len(train)} training views, "
        f"{sum(i.startswith(TABLETOP) for i in train)} of them tabletop")

    cuda_checks(a.device, a.out / "pytest_cuda.txt")

    variants = a.variants.split(",")
    workers = max(1, (cpus - len(variants)) // len(variants))
    rate = loader_rate(data, split, workers * len(variants), a.work)
    per_epoch = a.train_seconds / a.epochs - 6.0          # loader start and validation
    batches = max(10, int(0.75 * rate / len(variants) * per_epoch / 8))
    say(f"{len(variants)} runs x {a.epochs} epochs x {batches} batches of 8, {workers} "
        f"workers each ({a.epochs * batches * 8} training images per run)")

    procs = {}
    logs = contextlib.ExitStack()
    for v in variants:
        run = a.work / "runs" / v
        cmd = mtg("train", "--config", str(CONFIG), "--data", str(data), "--split",
                  str(splits[v]), "--out", str(run), "--init", str(a.init), "--device",
                  a.device, "--workers", str(workers), "--threads", "2", "--epochs",
                  str(a.epochs), "--batches-per-epoch", str(batches), "--cache",
                  str(a.work / "cache"), "--set", "optim.val_batches=30", "--no-progress")
        say(f"{v}: {' '.join(cmd[2:])}")
        run.mkdir(parents=True, exist_ok=True)
        out = logs.enter_context(open(run / "train.log", "w"))  # noqa: SIM115 (ExitStack)
        procs[v] = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + a.train_seconds * 1.25 + 30
    while any(p.poll() is None for p in procs.values()) and time.time() < deadline:
        time.sleep(5)
    logs.close()
    finished = {}
    for v, p in procs.items():
        if p.poll() is None:
            p.terminate()
            p.wait(30)
        finished[v] = p.returncode == 0
        say(f"{v}: exit {p.returncode}; " + " | ".join(
            line for line in (a.work / "runs" / v / "train.log").read_text().splitlines()
            if line.startswith(("epoch", "test accuracy", "precision"))))

    for v in variants:
        run = a.work / "runs" / v
        if (run / "last.pt").is_file():
            subprocess.run(mtg("export", "--checkpoint", str(run / "last.pt"), "--out",
                               str(run / f"gpu_{v}_last")), cwd=REPO)
    with tarfile.open(a.out / "runs.tar.gz", "w:gz") as tar:
        for v in variants:
            run = a.work / "runs" / v
            for f in sorted(run.glob("*")):
                if f.is_file() and f.name != "split.json":
                    tar.add(f, f"{v}/{f.name}")
    shutil.copy(split, a.out / "split.json")
    say(f"done in {time.time() - t_start:.0f} s: {finished}")
    return 0 if all(finished.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
