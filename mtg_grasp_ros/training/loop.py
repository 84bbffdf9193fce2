"""The training run: data, model, Adam, per-epoch validation, logs, checkpoints, resume.

Everything a run writes lives in its directory:

* ``config.yaml`` – the resolved configuration; ``run.json`` – data path and commands;
  ``split.json`` – the split (unless reused);
* ``last.pt`` – checkpoint after each epoch (model, optimiser, epoch, RNG, best so far, and
  the running weight average of ``optim.average_last``);
* ``best.pt`` and ``best.safetensors`` – the model with the best validation accuracy (an
  epoch's, or the average of the last epochs' weights when that validates at least as well);
* ``metrics.csv`` and ``tb/`` – per-epoch losses, validation accuracy, throughput;
* ``test.json`` – the best model on the fold's test part (read by ``evaluate-folds``).

Resuming is exact: augmentation and shuffling come from (seed, epoch) only, and the model
and optimiser states are restored, so a resumed run ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from .. import precision as prec
from ..datasets import Record, need_for_aux, open_dataset
from ..datasets.images import SourceCache
from ..datasets.splits import Split, load_split, make_split, save_split, select
from ..datasets.torch_dataset import GraspDataset
from ..losses import loss_by_name
from ..model import GraspCNN
from ..model_io import save_model
from ..preprocess import normalise
from . import distributed
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, seed_everything, set_rng_state
from .config import TrainConfig, from_dict, learning_rate, save_config
from .evaluate import EvalResult, evaluate, make_loader
from .logs import RunLog


@dataclass
class TrainResult:
    """How a run ended: its directory, epochs done, best validation result, test accuracy."""

    run_dir: Path
    epochs_done: int
    best_accuracy: float
    best_epoch: int
    finished: bool
    test_accuracy: float | None = None


def resolve_split(cfg: TrainConfig, records, run_dir: Path, main: bool) -> Split:
    """The split file named in the config, the run's own ``split.json``, or a new one."""
    if cfg.split.file:
        return load_split(cfg.split.file)
    own = run_dir / "split.json"
    if own.is_file():
        return load_split(own)
    split = make_split(records, cfg.split.kind, cfg.split.folds, cfg.split.seed)
    if main:
        save_split(split, own)
    return split


def init_weights(model: GraspCNN, path: str | Path) -> str:
    """Start ``model`` from the weights of a model file or checkpoint at ``path``.

    A grasp-only file (the bundled model) fills the shared layers and the grasp branch; an
    auxiliary branch missing from it keeps its fresh initialisation. Returns a summary line.
    """
    from ..model_io import load_model
    from .checkpoint import load_checkpoint as _load

    path = Path(path)
    if path.suffix == ".pt":
        state = _load(path, "cpu")["model"]
    else:
        state = load_model(path)[0].state_dict()
    own = model.state_dict()
    bad = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    if bad:
        raise ValueError(f"{path}: weights do not fit this {model.config.arch} network "
                         f"(e.g. {bad[0]})")
    missing = [k for k in own if k not in state]
    model.load_state_dict(state, strict=False)
    return (f"initialised from {path}: {len(state)} tensors"
            + (f", {len(missing)} left fresh ({missing[0].split('.')[0]} ...)" if missing else ""))


def _model_of(model: torch.nn.Module) -> GraspCNN:
    net = model.module if isinstance(model, DistributedDataParallel) else model
    assert isinstance(net, GraspCNN)        # train() wraps nothing else
    return net


def need_for_training(cfg: TrainConfig) -> tuple[str, ...]:
    """The files each record must have: the auxiliary target's, and masks to drop cut objects."""
    need = need_for_aux(cfg.model.aux)
    return need + ("mask",) if cfg.data.cut_objects == "drop" and "mask" not in need else need


def training_dataset(cfg: TrainConfig, records: list[Record],
                     cache: SourceCache | None) -> GraspDataset:
    """The augmented training set of a config (the run's and ``--measure-loading``'s)."""
    return GraspDataset(records, cfg.model.aux, cfg.model.input_size, cfg.augment,
                        cfg.optim.seed, cache, cfg.data.skip_bad,
                        cut_objects=cfg.data.cut_objects)


def train(cfg: TrainConfig, data: str | Path, run_dir: str | Path, resume: bool = False,
          stop_after: int | None = None, command: str = "", progress: bool = True) -> TrainResult:
    """Train ``cfg`` on ``data`` into ``run_dir``; ``stop_after`` ends the run after that
    many epochs as an interruption would (the next ``resume`` goes on from there).
    """
    run_dir = Path(run_dir)
    info = distributed.setup(cfg.optim.device)
    device, main = info.device, info.is_main
    say = print if main else (lambda *a, **k: None)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = load_checkpoint(run_dir / "last.pt", "cpu") if resume else None
    if ckpt is not None:
        saved = from_dict(ckpt["config"], f"{run_dir / 'last.pt'}")
        if saved.model != cfg.model or saved.loss != cfg.loss:
            raise ValueError(f"{run_dir}: resuming a {saved.model}/{saved.loss} run with a "
                             f"different model or loss")
    elif main and (run_dir / "last.pt").exists():
        raise FileExistsError(f"{run_dir} already holds a run; use --resume or another --out")
    if main:
        save_config(cfg, run_dir / "config.yaml")
        run_file = run_dir / "run.json"
        runs: dict[str, Any] = json.loads(run_file.read_text()) \
            if resume and run_file.is_file() else \
            {"data": str(Path(data).resolve()), "commands": []}
        runs["commands"].append(command)
        run_file.write_text(json.dumps(runs, indent=1))

    index = open_dataset(data, cfg.data.format, need_for_training(cfg), cfg.data.skip_bad)
    say(index.summary())
    for reason in index.skipped[:5]:
        say(f"  skipped: {reason}")
    split = resolve_split(cfg, index.records, run_dir, main)
    distributed.barrier(info)
    fold = split.fold(cfg.split.fold)
    train_recs = select(index.records, fold.train, "training part")
    val_recs = select(index.records, fold.val, "validation part")
    test_recs = select(index.records, fold.test, "test part")
    say(f"{split.kind}-wise split, fold {cfg.split.fold} of {split.k}: {len(train_recs)} train, "
        f"{len(val_recs)} val, {len(test_recs)} test images; device {device}")

    if cfg.optim.threads:
        torch.set_num_threads(cfg.optim.threads)
    dtype = prec.resolve(cfg.optim.precision, device)
    memory_format = torch.channels_last if cfg.optim.channels_last else torch.contiguous_format
    say(f"precision {prec.name_of(dtype)}"
        + (", channels_last" if cfg.optim.channels_last else "")
        + f", {torch.get_num_threads()} CPU threads" + (f", lr schedule {cfg.optim.schedule}"))
    seed_everything(cfg.optim.seed)
    size = cfg.model.input_size
    cache = SourceCache(cfg.data.cache, cfg.data.cache_side) if cfg.data.cache else None
    skip = cfg.data.skip_bad
    cut = cfg.data.cut_objects
    train_ds = training_dataset(cfg, train_recs, cache)
    val_ds = GraspDataset(val_recs, cfg.model.aux, size, None, skip_bad=skip, cut_objects=cut)
    model: torch.nn.Module = GraspCNN(cfg.model)
    if cfg.optim.init and ckpt is None:
        say(init_weights(_model_of(model), cfg.optim.init))
    model = model.to(device, memory_format=memory_format)  # type: ignore[call-overload]  # stubs lack it
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr,
                                 weight_decay=cfg.optim.weight_decay)
    loss_fn = loss_by_name(cfg.loss)
    start, best_acc, best_epoch = 0, -1.0, -1
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimiser.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        start, best_acc, best_epoch = int(ckpt["epoch"]), float(ckpt["best_accuracy"]), \
            int(ckpt["best_epoch"])
        say(f"resuming after epoch {start} (best val accuracy {best_acc:.2f}% at epoch "
            f"{best_epoch})")
    if info.enabled:
        model = DistributedDataParallel(model, device_ids=[device.index]
                                        if device.type == "cuda" else None)
    average = None
    if ckpt is not None and "average" in ckpt:
        average = AveragedModel(_model_of(model))
        average.load_state_dict(ckpt["average"])
    log = RunLog(run_dir, start) if main else None

    def validate(net: GraspCNN, loss: Callable | None = None) -> EvalResult:
        """``net`` on the validation part (each epoch's weights, and their average)."""
        return evaluate(net, make_loader(val_ds, cfg.optim.batch_size, cfg.optim.workers,
                                         device), device, cfg.postprocess, loss,
                        cfg.optim.val_batches)

    def save_best(net: GraspCNN, epoch: int, accuracy: float, **extra: Any) -> None:
        """``best.pt`` and ``best.safetensors``: the chosen weights and how they were chosen."""
        save_checkpoint({"epoch": epoch, "model": net.state_dict(), "config": cfg.to_dict(),
                         "val_accuracy": accuracy, **extra}, run_dir / "best.pt")
        save_model(net, run_dir / "best.safetensors", trained_on=str(data), accuracy=accuracy,
                   extra={"epoch": epoch, "metric": "val_accuracy", "variant": cfg.name,
                          "command": command, **extra})

    scaler = prec.grad_scaler(device, dtype)

    epochs = cfg.optim.epochs
    for epoch in range(start, epochs):
        train_ds.set_epoch(epoch)
        if info.enabled:
            sampler: DistributedSampler[int] = DistributedSampler(
                train_ds, info.world_size, info.rank, shuffle=True, seed=cfg.optim.seed)
            sampler.set_epoch(epoch)
            loader = make_loader(train_ds, cfg.optim.batch_size, cfg.optim.workers, device,
                                 sampler=sampler)
        else:
            gen = torch.Generator().manual_seed(cfg.optim.seed * 100_003 + epoch)
            loader = make_loader(train_ds, cfg.optim.batch_size, cfg.optim.workers, device,
                                 shuffle_generator=gen)
        n_batches = len(loader) if cfg.optim.batches_per_epoch is None else \
            min(cfg.optim.batches_per_epoch, len(loader))
        model.train()
        sums: dict[str, Any] = {}     # tensors while summing, floats once averaged
        images, wait, skipped, t0 = 0, 0.0, 0, time.perf_counter()
        t_wait = time.perf_counter()
        bar = tqdm(loader, total=n_batches, desc=f"epoch {epoch + 1}/{epochs}",
                   disable=not (main and progress), leave=False)
        for b, batch in enumerate(bar):
            if b >= n_batches:
                break
            wait += time.perf_counter() - t_wait
            for reason in batch.skipped:
                skipped += 1
                if main and skipped <= 5:
                    tqdm.write(f"skipped: {reason}")
            if len(batch) == 0:
                t_wait = time.perf_counter()
                continue
            for group in optimiser.param_groups:
                group["lr"] = learning_rate(cfg.optim, epoch, b, n_batches)
            x = normalise(batch.image.to(device, non_blocking=True)).contiguous(
                memory_format=memory_format)
            targets = {k: v.to(device, non_blocking=True) for k, v in batch.targets.items()}
            with prec.autocast(device, dtype):
                maps = model(x)
            result = loss_fn({k: v.float() for k, v in maps.items()}, targets)
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(result.total).backward()
            scaler.step(optimiser)
            scaler.update()
            # Sums stay on the device: no host sync per step on a GPU.
            for k, v in {"loss": result.total, **result.terms}.items():
                sums[k] = sums.get(k, 0.0) + v.detach()
            images += len(batch)
            if main and progress and b % 10 == 0:
                bar.set_postfix(loss=f"{float(sums['loss']) / (b + 1):.4f}")
            t_wait = time.perf_counter()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        sums = {k: float(v) for k, v in distributed.mean_over_ranks(sums, info).items()}
        if not all(math.isfinite(v) for v in sums.values()):
            raise FloatingPointError(f"epoch {epoch + 1}: the loss is not finite ({sums})")

        if epoch >= epochs - cfg.optim.average_last:
            if average is None:
                average = AveragedModel(_model_of(model))
            average.update_parameters(_model_of(model))
        val_acc = -1.0
        if main:
            t_val = time.perf_counter()
            val = validate(_model_of(model), loss_fn)
            val_acc = val.accuracy
            row = {f"train_{k}": v / max(n_batches, 1) for k, v in sums.items()}
            row.update(val_loss=val.loss if val.loss is not None else math.nan,
                       val_accuracy=val_acc, lr=optimiser.param_groups[0]["lr"],
                       train_seconds=seconds, train_images_per_s=images * info.world_size
                       / seconds, data_wait_fraction=wait / seconds,
                       val_seconds=time.perf_counter() - t_val, train_skipped=skipped,
                       val_skipped=val.skipped)
            assert log is not None              # main has one
            log.log(epoch + 1, row)
            say(f"epoch {epoch + 1}/{epochs}: train loss {row['train_loss']:.4f}, val loss "
                f"{row['val_loss']:.4f}, val accuracy {val_acc:.2f}% ({val.correct}/{val.total}),"
                f" {row['train_images_per_s']:.1f} img/s, data wait {100 * wait / seconds:.0f}%")
        val_acc = distributed.broadcast_float(val_acc, info)
        if val_acc > best_acc or cfg.optim.select == "last":
            best_acc, best_epoch = val_acc, epoch + 1
            if main:
                save_best(_model_of(model), epoch + 1, val_acc)
        if main:
            save_checkpoint({"epoch": epoch + 1, "model": _model_of(model).state_dict(),
                             "optimizer": optimiser.state_dict(), "config": cfg.to_dict(),
                             "rng": rng_state(), "best_accuracy": best_acc,
                             "best_epoch": best_epoch,
                             **({"average": average.state_dict()} if average else {})},
                            run_dir / "last.pt")
        distributed.barrier(info)
        if stop_after is not None and epoch + 1 >= stop_after and epoch + 1 < epochs:
            say(f"stopped after epoch {epoch + 1} as asked; continue with --resume")
            if log:
                log.close()
            distributed.teardown(info)
            return TrainResult(run_dir, epoch + 1, best_acc, best_epoch, False)

    averaged = 0
    if main and average is not None:
        averaged = int(average.n_averaged)
        mean_net = average.module
        assert isinstance(mean_net, GraspCNN)    # a copy of the run's network
        val = validate(mean_net)
        chosen = val.accuracy >= best_acc
        say(f"average of the last {averaged} epochs' weights: val accuracy "
            f"{val.accuracy:.2f}% ({val.correct}/{val.total}) against {best_acc:.2f}% at epoch "
            f"{best_epoch}: {'chosen' if chosen else 'not chosen'}")
        if chosen:
            best_acc, best_epoch = val.accuracy, epochs
            save_best(mean_net, epochs, val.accuracy, averaged_epochs=averaged)
        else:
            averaged = 0

    test_acc = None
    if main:
        best = load_checkpoint(run_dir / "best.pt", device)
        net = GraspCNN(cfg.model).to(device)
        net.load_state_dict(best["model"])
        test = evaluate(net, make_loader(GraspDataset(test_recs, None, size, None,
                                                      skip_bad=skip, cut_objects=cut),
                                         cfg.optim.batch_size, cfg.optim.workers, device),
                        device, cfg.postprocess, records=test_recs)
        test_acc = test.accuracy
        model_name, aux = cfg.label
        (run_dir / "test.json").write_text(json.dumps({
            "variant": cfg.name, "model": model_name, "aux": aux, "loss": cfg.loss,
            "fold": cfg.split.fold, "split": cfg.split.file or str(run_dir / "split.json"),
            "best_epoch": best_epoch, "averaged_epochs": averaged,
            "val_accuracy": best_acc, "accuracy": test_acc,
            "correct": test.correct, "total": test.total, "skipped": test.skipped,
            "images": test.images}, indent=1))
        say(f"test accuracy of the best model (epoch {best_epoch}): {test_acc:.2f}% "
            f"({test.correct}/{test.total})")
        assert log is not None
        log.close()
    distributed.teardown(info)
    return TrainResult(run_dir, epochs, best_acc, best_epoch, True, test_acc)
