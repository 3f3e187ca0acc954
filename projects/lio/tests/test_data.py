"""Data: the anchor + K positives sampler (grouping, DDP, small classes), the validation split, every real-format
reader on a fixture written in its official layout, bad inputs, and the synthetic generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lio.data import GroupSampler, LIODataModule, stratified_split
from lio.datasets import Record, RecordDataset, read_cub, read_fgvc_aircraft, read_lists, read_stanford_cars
from lio.synthetic import SyntheticParts, _canonical, class_arrangements, generate
from paperkit.errors import DataFormatError, DataNotFoundError


def _groups(sampler: GroupSampler) -> list[list[int]]:
    idx = list(sampler)
    return [idx[i : i + 1 + sampler.k] for i in range(0, len(idx), 1 + sampler.k)]


def test_group_sampler_keeps_each_anchor_with_positives_of_its_class() -> None:
    labels = np.repeat(np.arange(5), 6)
    s = GroupSampler(labels, anchors_per_batch=4, num_positive=3, seed=1)
    groups = _groups(s)
    assert len(groups) == 7 * 4 and len(list(s)) == len(s)
    for a, *pos in groups:
        assert all(labels[p] == labels[a] for p in pos) and a not in pos and len(set(pos)) == 3
    anchors = [g[0] for g in groups]
    assert len(set(anchors)) == len(anchors)  # every anchor once per epoch
    s.set_epoch(1)
    assert [g[0] for g in _groups(s)] != anchors  # reshuffled per epoch, deterministically
    assert list(s) == list(s)


def test_group_sampler_under_ddp_gives_ranks_disjoint_whole_groups() -> None:
    labels = np.repeat(np.arange(4), 8)
    ranks = [GroupSampler(labels, 4, 3, seed=0, num_replicas=2, rank=r) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1])
    a0, a1 = ({g[0] for g in _groups(s)} for s in ranks)
    assert not a0 & a1 and len(a0) == len(a1) == 16
    for s in ranks:
        assert all(len({labels[i] for i in g}) == 1 for g in _groups(s))


def test_small_classes_draw_positives_with_replacement_and_singletons_repeat_themselves() -> None:
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 2])  # class 1: 2 images (< K + 1), class 2: one image
    s = GroupSampler(labels, anchors_per_batch=8, num_positive=3, seed=0)
    for a, *pos in _groups(s):
        assert all(labels[p] == labels[a] for p in pos)
        if labels[a] == 1:
            assert all(p != a for p in pos)  # with replacement from the other image
        if labels[a] == 2:
            assert pos == [a, a, a]


def test_stratified_split_is_seeded_and_keeps_every_class_in_train() -> None:
    labels = np.repeat(np.arange(3), [10, 5, 1])
    tr, va = stratified_split(labels, 0.2, seed=0)
    assert sorted([*tr, *va]) == list(range(16)) and not set(tr) & set(va)
    assert [int((labels[va] == c).sum()) for c in range(3)] == [2, 1, 0]
    assert set(labels[tr]) == {0, 1, 2}
    assert np.array_equal(stratified_split(labels, 0.2, seed=0)[1], va)
    assert not np.array_equal(stratified_split(labels, 0.2, seed=1)[1], va)


def test_cub_reader_on_the_official_layout(tmp_path: Path, fmt) -> None:
    root = fmt.cub(tmp_path / "data", n_classes=3, per_class=4)
    split = read_cub(root)
    assert split.class_names == ["001.Bird_0", "002.Bird_1", "003.Bird_2"]
    assert len(split.train) == len(split.test) == 6
    assert [r.label for r in split.train] == [0, 0, 1, 1, 2, 2]
    assert all(r.mask and r.mask.endswith(".png") for r in split.train)
    assert read_cub(root / "CUB_200_2011").train == split.train  # the root or the CUB_200_2011 folder itself


def test_cub_dataset_applies_the_same_geometry_to_image_and_mask(tmp_path: Path, fmt) -> None:
    root = fmt.cub(tmp_path / "data")
    dm = LIODataModule("cub", str(root), anchors_per_batch=2, val_fraction=0.0, resize_size=40, image_size=32)
    dm.setup("fit")
    item = dm.test_set[0]
    assert item["image"].shape == (3, 32, 32) and item["mask"].shape == (1, 32, 32) and bool(item["has_mask"])
    assert 0.2 < float(item["mask"].mean()) < 0.6
    assert dm.n_classes == 3 and dm.class_names[0] == "001.Bird_0"


def test_cub_bad_label_and_missing_files_name_the_file_and_line(tmp_path: Path, fmt) -> None:
    root = fmt.cub(tmp_path / "data")
    labels = root / "CUB_200_2011" / "image_class_labels.txt"
    lines = labels.read_text().splitlines()
    lines[4] = "5 7"
    labels.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r"image_class_labels.txt.*line 5.*outside the class range 1..3"):
        read_cub(root)
    (root / "CUB_200_2011" / "train_test_split.txt").unlink()
    with pytest.raises(DataNotFoundError, match=r"train_test_split.txt"):
        read_cub(root)
    with pytest.raises(DataNotFoundError, match=r"vision.caltech.edu"):
        read_cub(tmp_path / "nowhere")


def test_lists_reader_and_its_errors(tmp_path: Path, fmt) -> None:
    root = fmt.lists(tmp_path / "lists")
    split = read_lists(root)
    assert len(split.train) == 6 and split.train[0] == Record(str(root / "all" / "img_0_0.jpg"), 0)
    (root / "test.txt").write_text("img_0_1.jpg 1\nimg_0_3.jpg 4\n")
    with pytest.raises(DataFormatError, match=r"test.txt.*line 2: label 4 is outside the class range 1..3"):
        read_lists(root)
    (root / "test.txt").write_text("img_0_1.jpg one\n")
    with pytest.raises(DataFormatError, match=r"line 1.*not an integer"):
        read_lists(root)
    (root / "train.txt").unlink()
    with pytest.raises(DataNotFoundError, match=r"train.txt"):
        read_lists(root)


def test_stanford_cars_through_torchvision(tmp_path: Path, fmt) -> None:
    root = fmt.stanford_cars(tmp_path / "cars", n_classes=3, per_class=2)
    split = read_stanford_cars(root)
    assert split.class_names == ["Car Model 0 2012", "Car Model 1 2012", "Car Model 2 2012"]
    assert [r.label for r in split.train] == [0, 0, 1, 1, 2, 2] and len(split.test) == 6
    assert Path(split.train[0].path).name == "00001.jpg" and Path(split.train[0].path).is_file()
    with pytest.raises(DataNotFoundError, match=r"cars_meta.mat"):
        read_stanford_cars(tmp_path / "empty")


def test_fgvc_aircraft_through_torchvision(tmp_path: Path, fmt) -> None:
    root = fmt.fgvc_aircraft(tmp_path / "air", n_classes=3, per_class=2)
    split = read_fgvc_aircraft(root)
    assert split.class_names == ["A300-000", "A310-100", "A320-200"]
    assert [r.label for r in split.test] == [0, 0, 1, 1, 2, 2] and all(Path(r.path).is_file() for r in split.train)
    data = root / "fgvc-aircraft-2013b" / "data"
    (data / "images_variant_test.txt").write_text("1000001 B747-400\n")
    with pytest.raises(DataFormatError, match="B747-400"):
        read_fgvc_aircraft(root)


def test_undecodable_training_image_is_replaced_and_reported_once(tmp_path: Path, caplog, fmt) -> None:
    root = fmt.lists(tmp_path / "lists")
    bad = root / "all" / "img_1_0.jpg"
    bad.write_bytes(b"not a jpeg")
    split = read_lists(root)
    from lio.data import _Transform

    ds = RecordDataset(split.train, _Transform(False, 32, 32, 0, False))
    i = [r.path for r in ds.records].index(str(bad))
    for _ in range(3):
        item = ds[i]
        assert item["label"] == 1 and item["image"].shape == (3, 32, 32)
    assert ds.bad == {str(bad)} and caplog.text.count("unreadable image") == 1
    strict = RecordDataset(split.train, _Transform(False, 32, 32, 0, False), substitute_bad=False)
    with pytest.raises(DataFormatError, match=r"img_1_0.jpg"):
        strict[i]


def test_synthetic_generator_is_deterministic_and_classes_are_not_rotations_or_mirrors() -> None:
    cfg = SyntheticParts(train_per_class=2, test_per_class=1)
    x, y, m, c = generate(cfg, "train")
    assert x.shape == (20, 64, 64, 3) and x.dtype == np.uint8 and m.shape == (20, 64, 64) and c.shape == (20, 2)
    x2, *_ = generate(cfg, "train")
    assert np.array_equal(x, x2)
    xt, *_ = generate(cfg, "test")
    assert not np.array_equal(xt[0], x[0])
    arrangements = class_arrangements(10)
    assert len({_canonical(a) for a in arrangements}) == 10
    assert all(sorted(v for v in a if v >= 0) == [0, 1, 2, 3] for a in arrangements)
    # the mask covers the body and its parts; the body centre lies inside it
    for k in range(len(y)):
        r, col = (round(float(v)) for v in c[k])
        assert m[k, r, col] == 1 and 0.04 < m[k].mean() < 0.3


def test_synthetic_distractors_share_the_parts_colours_so_colour_counts_carry_no_class() -> None:
    """Every class shows the same four part colours (its own parts + distractors): the per-image presence of each
    part colour does not identify the class."""
    x, _, _, _ = generate(SyntheticParts(train_per_class=10), "train")
    from lio.synthetic import PART_COLOURS

    present = np.stack([np.all(np.abs(x.astype(int) - np.array(col)) < 3, axis=-1).any(axis=(1, 2))
                        for col in PART_COLOURS], axis=1)  # fmt: skip
    assert present.all()  # the object's own parts are always there


def test_predict_inputs(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 30, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    dm = LIODataModule(predict_path=str(folder))
    dm.setup("predict")
    assert len(dm.predict_set) == 3 and dm.predict_set[0]["image"].shape == (3, 64, 64)
    with pytest.raises(DataNotFoundError, match=r"missing.jpg"):
        LIODataModule(predict_path=str(tmp_path / "missing.jpg")).setup("predict")
    (folder / "bad.jpg").write_bytes(b"\x00" * 100)
    with pytest.raises(DataFormatError, match=r"bad.jpg"):
        LIODataModule(predict_path=str(folder)).setup("predict")


def test_synthetic_datamodule_batches_are_grouped() -> None:
    torch.manual_seed(0)
    dm = LIODataModule(synthetic_train_per_class=8, synthetic_test_per_class=2, anchors_per_batch=4, val_fraction=0.25)
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (60, 20, 20)
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (16, 3, 64, 64)
    assert (batch["label"].view(4, 4) == batch["label"].view(4, 4)[:, :1]).all()
    assert dm.group_size == 4 and LIODataModule(sampler="random").group_size == 1
