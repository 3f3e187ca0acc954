"""The UEA/aeon ``.ts`` dataset (``--data.dataset ts``) on fixtures written in that format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eegencoder.cli import main
from eegencoder.data import EEGDataModule
from eegencoder.datasets import read_ts
from paperkit.errors import DataFormatError, DataNotFoundError
from paperkit.testing import run_cli, tiny_trainer_args


def test_read_ts_roundtrip_and_stated_label_order(ts_root) -> None:
    root, content = ts_root
    f = read_ts(root / "Fix" / "Fix_TRAIN.ts")
    np.testing.assert_allclose(f.x, content["x_TRAIN"], atol=1e-4)
    assert f.x.shape == (20, 4, 30) and f.x.dtype == np.float32
    assert f.class_labels == ["b", "a"]  # the @classLabel order, not sorted
    np.testing.assert_array_equal(f.y, content["y_TRAIN"])  # 'b' -> 0, 'a' -> 1


def test_datamodule_sizes_channels_and_splits(ts_root) -> None:
    root, content = ts_root
    dm = EEGDataModule(dataset="ts", root=str(root), ts_name="Fix", sfreq=100.0, val_fraction=0.25)
    assert (dm.n_chans, dm.n_times, dm.n_classes) == (4, 30, 2)
    assert dm.channel_names == ["C3", "Cz", "C4", "POz"] and dm.class_names == ["b", "a"]
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (15, 5, 8)
    # validation = the last quarter of TRAIN in file order; TEST is the TEST file, standardised with TRAIN statistics
    np.testing.assert_array_equal(dm.val_set.tensors[1].numpy(), content["y_TRAIN"][15:])
    np.testing.assert_array_equal(dm.test_set.tensors[1].numpy(), content["y_TEST"])
    mean = content["x_TRAIN"][:15].mean(axis=(0, 2))[:, None]
    std = content["x_TRAIN"][:15].std(axis=(0, 2))[:, None]
    np.testing.assert_allclose(dm.test_set.tensors[0].numpy(), (content["x_TEST"] - mean) / std, atol=1e-3)


def test_channel_names_fall_back_without_description(ts_root) -> None:
    root, _ = ts_root
    (root / "Fix" / "Fix.txt").unlink()
    assert EEGDataModule(dataset="ts", root=str(root), ts_name="Fix").channel_names == ["ch1", "ch2", "ch3", "ch4"]


def test_bad_ts_files_are_clear_errors(ts_root, ts_writer, tmp_path: Path) -> None:
    root, _ = ts_root
    with pytest.raises(DataNotFoundError, match=r"Nope_TRAIN\.ts"):
        EEGDataModule(dataset="ts", root=str(root), ts_name="Nope")
    bad = tmp_path / "bad.ts"
    ts_writer(bad, np.zeros((2, 2, 5), np.float32), ["x", "y"], ["x"])
    with pytest.raises(DataFormatError, match="label 'y'"):
        read_ts(bad)
    text = bad.read_text().replace("0.0000,0.0000,0.0000,0.0000,0.0000:x", "0.0000,0.0000:x", 1)
    bad.write_text(text.replace("@classLabel true x", "@classLabel true x y"))
    with pytest.raises(DataFormatError, match="same channels and length"):
        read_ts(bad)


def test_train_on_ts_reports_its_class_names(ts_root, tmp_path: Path) -> None:
    root, _ = ts_root
    data = ["--data.dataset=ts", f"--data.root={root}", "--data.ts_name=Fix", "--data.batch_size=4"]
    model = ["--model.kernel_1=5", "--model.kernel_2=3", "--model.pool_1=2", "--model.pool_2=1", "--model.n_branches=2"]
    run = run_cli(main, ["train", *tiny_trainer_args(), *data, *model], tmp_path, "eegencoder")
    assert "test/acc" in json.loads((run / "test_metrics.json").read_text())
    hp = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["hyper_parameters"]
    assert (hp["n_chans"], hp["n_times"], hp["n_classes"], hp["class_names"]) == (4, 30, 2, ["b", "a"])
