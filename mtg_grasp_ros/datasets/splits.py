"""k-fold cross-validation splits of 80/10/10, image-wise or object-wise (paper III-D).

The shuffled units (images, or objects with all their images) are cut into k equal chunks;
fold i tests on the first half of chunk i, validates on its second half and trains on the
other k - 1 chunks: with k = 5 that is 80/10/10, and every unit is held out (validation or
test) in exactly one fold, as in the paper's 5-fold cross validation. The shuffle
comes from the seed alone, and a split is saved as JSON of record ids for later runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import atomic
from .records import DatasetError, Record

KINDS: tuple[str, ...] = ("image", "object")
FORMAT = "mtg_grasp_split/1"


@dataclass
class Fold:
    """The record ids of one fold's train, validation and test parts."""

    train: list[str]
    val: list[str]
    test: list[str]


@dataclass
class Split:
    """A k-fold split as saved: how it was made (kind, k, seed) and its folds."""

    kind: str
    k: int
    seed: int
    folds: list[Fold]

    def fold(self, n: int) -> Fold:
        """Fold ``n``; an error names the folds that exist."""
        if not 0 <= n < len(self.folds):
            raise ValueError(f"fold {n} does not exist; this split has folds 0..{self.k - 1}")
        return self.folds[n]


def make_split(records: Sequence[Record], kind: str = "image", k: int = 5, seed: int = 0) -> Split:
    """Deterministic k-fold split of ``records`` by image or by object."""
    if kind not in KINDS:
        raise ValueError(f"split kind must be one of {KINDS}, got {kind!r}")
    if k < 2:
        raise ValueError(f"need k >= 2 folds, got {k}")
    if kind == "object":
        missing = [r.id for r in records if not r.object_id]
        if missing:
            raise DatasetError(f"object-wise split needs object ids, which {missing[0]} (and "
                               f"{len(missing) - 1} more) lack; use an image-wise split")
        units = sorted({r.object_id for r in records if r.object_id})   # all have one (above)
        members: dict[str, list[str]] = {u: [] for u in units}
        for r in records:
            if r.object_id:
                members[r.object_id].append(r.id)
    else:
        units = sorted(r.id for r in records)
        members = {u: [u] for u in units}
    if len(units) < 2 * k:
        raise DatasetError(f"{len(units)} {kind}s cannot make {k} folds with non-empty "
                           f"val and test parts (need at least {2 * k})")
    order = [units[i] for i in np.random.default_rng(seed).permutation(len(units))]
    chunks = [list(c) for c in np.array_split(np.array(order, dtype=object), k)]

    def ids(us: list[str]) -> list[str]:
        return sorted(i for u in us for i in members[u])

    folds = []
    for i, chunk in enumerate(chunks):
        half = (len(chunk) + 1) // 2
        train = [u for j, c in enumerate(chunks) if j != i for u in c]
        folds.append(Fold(ids(train), ids(chunk[half:]), ids(chunk[:half])))
    return Split(kind, k, seed, folds)


def save_split(split: Split, path: str | Path) -> None:
    """Write the split as JSON (atomically)."""
    doc = {"format": FORMAT, **asdict(split)}
    atomic.write_text(path, json.dumps(doc, indent=1))


def load_split(path: str | Path) -> Split:
    """Read a split file written by :func:`save_split`; errors name the file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT:
            raise DatasetError(f"{path}: not a split file (format {doc.get('format')!r}, "
                               f"expected {FORMAT!r})")
        return Split(doc["kind"], int(doc["k"]), int(doc["seed"]),
                     [Fold(f["train"], f["val"], f["test"]) for f in doc["folds"]])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: cannot read split file ({exc})") from None


def select(records: Sequence[Record], ids: Sequence[str], what: str = "split") -> list[Record]:
    """The records with these ids, in the ids' order; an error if any id is not in the data."""
    by_id = {r.id: r for r in records}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DatasetError(f"{len(missing)} ids of the {what} are not in the dataset "
                           f"(first: {missing[0]!r}); was the split made for other data?")
    return [by_id[i] for i in ids]
