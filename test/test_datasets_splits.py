"""k-fold 80/10/10 splits, image-wise and object-wise, deterministic and reusable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtg_grasp_ros.datasets import DatasetError, Record
from mtg_grasp_ros.datasets.splits import load_split, make_split, save_split, select


def _records(n_objects=20, views=5):
    return [Record(f"o{o:02d}/{v}_o{o:02d}", f"o{o:02d}", Path("x.png"), np.zeros((1, 5)))
            for o in range(n_objects) for v in range(views)]


@pytest.mark.parametrize("kind", ["image", "object"])
def test_five_folds_of_80_10_10_hold_out_every_unit_once(kind):
    records = _records()
    split = make_split(records, kind, 5, seed=7)
    held = []
    for fold in split.folds:
        parts = [set(fold.train), set(fold.val), set(fold.test)]
        assert (len(fold.train), len(fold.val), len(fold.test)) == (80, 10, 10)
        assert sum(map(len, parts)) == len(set().union(*parts)) == 100
        held += fold.val + fold.test
        if kind == "object":
            objs = [{i.split("/")[0] for i in p} for p in parts]
            assert not (objs[0] & objs[1] or objs[0] & objs[2] or objs[1] & objs[2])
    assert sorted(held) == sorted(r.id for r in records)


def test_split_is_deterministic_from_the_seed_and_round_trips(tmp_path):
    records = _records()
    a, b = make_split(records, "image", 5, 1), make_split(records, "image", 5, 1)
    assert a == b and make_split(records, "image", 5, 2) != a
    save_split(a, tmp_path / "split.json")
    assert load_split(tmp_path / "split.json") == a
    assert [r.id for r in select(records, a.fold(3).test)] == a.fold(3).test
    with pytest.raises(ValueError, match="fold 5 does not exist"):
        a.fold(5)


def test_split_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetError, match="ids of the test part are not in the dataset"):
        select(_records(2), ["o99/0_o99"], "test part")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(DatasetError, match="bad.json: not a split file"):
        load_split(bad)
    cornell = [Record(f"pcd{i:04d}", None, Path("x.png"), np.zeros((1, 5))) for i in range(20)]
    with pytest.raises(DatasetError, match="object-wise split needs object ids"):
        make_split(cornell, "object")
    with pytest.raises(DatasetError, match="cannot make 5 folds"):
        make_split(_records(1, 4), "image", 5)
