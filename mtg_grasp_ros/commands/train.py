"""``mtg_grasp train``: train one Table I variant on one fold (see training/loop.py)."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from ..training.config import ConfigError, TrainConfig, apply_overrides, load_config

#: Shortcut flags -> config entries (``--set section.key=value`` reaches every entry).
SHORTCUTS = {"epochs": "optim.epochs", "batch_size": "optim.batch_size", "lr": "optim.lr",
             "seed": "optim.seed", "workers": "optim.workers", "device": "optim.device",
             "batches_per_epoch": "optim.batches_per_epoch", "fold": "split.fold",
             "split": "split.file", "cache": "data.cache", "init": "optim.init",
             "threads": "optim.threads", "precision": "optim.precision"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``train`` command's options."""
    p.add_argument("--config", type=Path, help="config/train/<variant>.yaml "
                   "(optional with --resume: the run's config.yaml is used)")
    p.add_argument("--data", type=Path, required=True, help="dataset directory (Jacquard or "
                   "Cornell layout)")
    p.add_argument("--out", type=Path, required=True, help="run directory to write")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from "
                   "its last checkpoint")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int, help="DataLoader workers (-1: min(8, CPUs-1))")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--batches-per-epoch", type=int, help="cap on training batches per epoch")
    p.add_argument("--fold", type=int, help="which fold of the split to train")
    p.add_argument("--split", help="reuse this split file (made by an earlier run)")
    p.add_argument("--cache", help="directory for decoded, downscaled training images")
    p.add_argument("--init", help="start from this model (.safetensors, e.g. the bundled "
                   "one) or checkpoint (.pt): fine-tuning; an auxiliary branch it lacks "
                   "starts fresh")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--precision", help="auto, fp32, bf16 or fp16 (auto: bf16 on CPUs with "
                   "native bf16 and on CUDA, else fp32; see mtg_grasp_ros/precision.py)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config entry, e.g. --set augment.rotation=quarter")
    p.add_argument("--stop-after", type=int, metavar="N", help="stop after N epochs as an "
                   "interruption would (resume later with --resume)")
    p.add_argument("--measure-loading", action="store_true", help="only time the training "
                   "data loader (images/s) for --batches-per-epoch batches, then exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The config file (or a resumed run's own) with the option shortcuts and ``--set`` applied."""
    if args.resume and args.config is None:
        base = load_config(args.out / "config.yaml")
    elif args.config is None:
        raise ConfigError("--config is needed for a new run (see config/train/)")
    else:
        base = load_config(args.config)
    sets = [f"{entry}={getattr(args, flag)}" for flag, entry in SHORTCUTS.items()
            if getattr(args, flag) is not None]
    return apply_overrides(base, sets + list(args.set))


def measure_loading(cfg: TrainConfig, data: Path, batches: int) -> None:
    """Images/s of the training loader alone (decode, augment, targets, collate)."""
    import torch

    from ..datasets import open_dataset
    from ..datasets.images import SourceCache
    from ..training.evaluate import make_loader
    from ..training.loop import need_for_training, training_dataset

    index = open_dataset(data, cfg.data.format, need_for_training(cfg), cfg.data.skip_bad)
    cache = SourceCache(cfg.data.cache, cfg.data.cache_side) if cfg.data.cache else None
    ds = training_dataset(cfg, index.records, cache)
    for epoch in range(2):  # the second pass shows the cache's effect
        ds.set_epoch(epoch)
        loader = make_loader(ds, cfg.optim.batch_size, cfg.optim.workers, torch.device("cpu"),
                             shuffle_generator=torch.Generator().manual_seed(epoch))
        n, t0 = 0, time.perf_counter()
        while n < batches * cfg.optim.batch_size:
            for batch in loader:
                n += len(batch)
                if n >= batches * cfg.optim.batch_size:
                    break
        dt = time.perf_counter() - t0
        print(f"pass {epoch + 1}: {n} images in {dt:.2f} s = {n / dt:.1f} images/s "
              f"(workers {cfg.optim.workers}, cache {'on' if cache else 'off'})")


def run(args: argparse.Namespace) -> int:
    """Train (or only time the loader); status 2 on bad input, 1 when it ended early unasked."""
    from ..datasets import DatasetError
    from ..training.loop import train

    try:
        cfg = resolve_config(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.measure_loading:
        try:
            measure_loading(cfg, args.data, cfg.optim.batches_per_epoch or 20)
        except DatasetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    from ..training.checkpoint import CheckpointError

    command = "mtg_grasp " + " ".join(shlex.quote(a) for a in args.argv)
    try:
        result = train(cfg, args.data, args.out, resume=args.resume,
                       stop_after=args.stop_after, command=command,
                       progress=not args.no_progress)
    except (ValueError, CheckpointError, FileExistsError) as exc:  # DatasetError, ConfigError too
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if result.finished or args.stop_after else 1
