"""Data: the synthetic generator (shapes, determinism, modality preference signal) and the real-format loaders."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from crmt.data import CRMTDataModule, make_synthetic
from crmt.datasets import frame_indices
from paperkit.errors import DataFormatError, DataNotFoundError


def test_synthetic_shapes_determinism_and_signal():
    xa, xb, y = make_synthetic(3000, seed=5)
    assert xa.shape == (3000, 16) and xb.shape == (3000, 16) and y.shape == (3000,)
    xa2, xb2, y2 = make_synthetic(3000, seed=5)
    assert np.array_equal(xa, xa2) and np.array_equal(xb, xb2) and np.array_equal(y, y2)
    assert not np.array_equal(make_synthetic(3000, seed=6)[0], xa)
    tr, te = slice(0, 2000), slice(2000, None)
    # A is linearly separable (the easy, preferred modality)
    acc_a = LogisticRegression(max_iter=500).fit(xa[tr], y[tr]).score(xa[te], y[te])
    assert acc_a > 0.97
    # B is XOR-coded: invisible to a linear model, ~0.81 with the right product features (label noise 0.25)
    assert LogisticRegression(max_iter=500).fit(xb[tr], y[tr]).score(xb[te], y[te]) < 0.4
    prod = np.stack([xb[:, 0] * xb[:, 1], xb[:, 2] * xb[:, 3]], 1)
    acc_b = LogisticRegression(max_iter=500).fit(prod[tr], y[tr]).score(prod[te], y[te])
    assert 0.72 < acc_b < 0.88


def test_synthetic_datamodule_batches():
    dm = CRMTDataModule(n_train=256, n_val=64, n_test=64, batch_size=32)
    dm.setup("fit")
    xs, y = next(iter(dm.train_dataloader()))
    assert [x.shape for x in xs] == [(32, 16), (32, 16)] and y.shape == (32,)
    assert len(dm.lipschitz_dataloader(rank=1, world_size=2).dataset) == 128


def test_frame_indices_official_rule():
    assert frame_indices(10, 3, train=False, rng=random.Random(0)) == [1, 4, 7]
    assert frame_indices(6, 3, train=False, rng=random.Random(0)) == [1, 1, 1]
    for _ in range(20):
        idx = frame_indices(10, 3, train=True, rng=random.Random())
        assert all(i * 3 + 1 <= t <= i * 3 + 3 for i, t in enumerate(idx))


def test_kinetics_sounds_fixture(ks_root):
    dm = CRMTDataModule(
        dataset="kinetics_sounds", root=str(ks_root), batch_size=2, image_size=32, audio_frames=64, val_fraction=0.34
    )
    assert dm.modality_names == ["audio", "visual"] and dm.in_sizes == [1, 3]
    dm.setup("fit")
    assert len(dm.train_set) == 4 and len(dm.val_set) == 2 and len(dm.test_set) == 3
    xs, _y = next(iter(dm.train_dataloader()))
    assert xs[0].shape == (2, 1, 64, 128) and xs[1].shape == (2, 3, 3, 32, 32)
    (audio, clip), label = dm.test_set[1]
    assert label == 1 and clip.shape == (3, 3, 32, 32)
    arr = np.load(ks_root / "test_spec" / "te001xyzXYZ.npy")
    assert torch.allclose(audio[0], torch.from_numpy(arr))
    lo, hi = dm.input_bounds()[1]  # (3, 1, 1, 1): the normalised images of [0, 1]
    assert (clip >= lo - 1e-5).all() and (clip <= hi + 1e-5).all()


def test_kinetics_sounds_filters_and_errors(ks_root, tmp_path):
    # a clip with <= 3 frames is dropped (official rule), a missing npy too
    folder = ks_root / "val-frames-1fps" / "test" / "te000xyzXYZ"
    for f in sorted(folder.iterdir())[3:]:
        f.unlink()
    (ks_root / "test_spec" / "te002xyzXYZ.npy").unlink()
    dm = CRMTDataModule(dataset="kinetics_sounds", root=str(ks_root), image_size=32, audio_frames=64)
    dm.setup("test")
    assert [name for name, _ in dm.test_set.items] == ["te001xyzXYZ"]
    dm_paper = CRMTDataModule(dataset="kinetics_sounds", root=str(ks_root), image_size=32)  # expects 1024 x 128
    dm_paper.setup()
    with pytest.raises(DataFormatError, match=r"shape \(64, 128\)"):
        dm_paper.test_set[0]
    with pytest.raises(DataNotFoundError, match=r"ks_train_overlap\.txt") as err:
        CRMTDataModule(dataset="kinetics_sounds", root=str(tmp_path / "nowhere")).setup()
    assert "train_spec" in str(err.value)  # the expected tree is printed


def test_ucf101_fixture(ucf_root, tmp_path):
    dm = CRMTDataModule(
        dataset="ucf101", root=str(ucf_root), batch_size=2, image_size=24, n_classes=2, val_fraction=0.25
    )
    dm.setup("fit")
    assert len(dm.train_set) == 3 and len(dm.val_set) == 1 and len(dm.test_set) == 2
    xs, _y = next(iter(dm.train_dataloader()))
    assert xs[0].shape == (2, 3, 3, 24, 24) and xs[1].shape == (2, 2, 3, 24, 24)
    assert sorted(label for _, label in dm.test_set.items) == [0, 1]
    with pytest.raises(DataNotFoundError, match=r"classInd\.txt"):
        CRMTDataModule(dataset="ucf101", root=str(tmp_path / "none")).setup()


def test_a_label_outside_n_classes_is_an_error_naming_the_list_file(ks_root):
    lines = (ks_root / "ks_train_overlap.txt").read_text().splitlines()
    lines[1] = lines[1].rsplit(" ", 1)[0] + " 9"  # class index 9 with a 4-class head
    (ks_root / "ks_train_overlap.txt").write_text("\n".join(lines) + "\n")
    dm = CRMTDataModule(dataset="kinetics_sounds", root=str(ks_root), image_size=32, audio_frames=64, n_classes=4)
    with pytest.raises(DataFormatError, match=r"entry 2 has label '9'") as err:
        dm.setup("fit")
    assert "ks_train_overlap.txt" in str(err.value) and "--data.n_classes" in str(err.value)


def test_n_classes_comes_from_the_label_lists(ks_root, ucf_root):
    """Unset --data.n_classes: integer KS labels give largest + 1, class names their count, UCF101 classInd.txt."""
    kw = {"image_size": 32, "audio_frames": 64}
    assert CRMTDataModule(dataset="kinetics_sounds", root=str(ks_root), **kw).n_classes == 3
    names = ["dog", "car", "rain", "car"]
    for sub in ("train", "test"):
        path = ks_root / f"ks_{sub}_overlap.txt"
        rows = [line.split()[0] for line in path.read_text().splitlines()]
        path.write_text("".join(f"{r} {names[i % 4]}\n" for i, r in enumerate(rows)))
    dm = CRMTDataModule(dataset="kinetics_sounds", root=str(ks_root), **kw)
    assert dm.n_classes == 3
    dm.setup("fit")
    assert sorted({label for _, label in dm.test_set.items}) == [0, 1, 2]
    assert CRMTDataModule(dataset="ucf101", root=str(ucf_root)).n_classes == 2
    assert CRMTDataModule().n_classes == 4  # synthetic


def test_vggsound_loader_reads_the_csv_wav_and_spec_audio(tmp_path, layouts):
    from scipy.io import wavfile

    from crmt.audio import normalised_fbank

    root = layouts.vgg(tmp_path / "vgg")
    dm = CRMTDataModule(dataset="vggsound", root=str(root), image_size=32, audio_frames=64, val_fraction=0.0)
    assert dm.n_classes == 3 and dm.modality_names == ["audio", "visual"]  # class names of vggsound.csv
    dm.setup("fit")
    assert len(dm.train_set) == 6 and len(dm.test_set) == 3
    names = [name for name, _ in dm.test_set.items]
    assert names == ["-a2Xy_Z2_000020", "-a5Xy_Z5_000050", "-a8Xy_Z8_000080"]
    # sorted class names: "cattle, bovinae cowbell" 0, "dog barking" 1, "rain" 2; test rows are i = 2, 5, 8
    assert [label for _, label in dm.test_set.items] == [2, 2, 2]
    assert sorted({label for _, label in dm.train_set.dataset.items}) == [0, 1]
    (audio, clip), _ = dm.test_set[1]  # i = 5: raw .wav through the official fbank
    sr, pcm = wavfile.read(root / "test_wav" / "test" / "-a5Xy_Z5_000050.wav")
    expected = normalised_fbank(torch.from_numpy(pcm.astype(np.float32) / 32768)[None], sr, 64)
    assert audio.shape == (1, 64, 128) and torch.allclose(audio[0], expected)
    (audio, clip), _ = dm.test_set[0]  # i = 2: precomputed spec .npy
    assert torch.equal(audio[0], torch.from_numpy(np.load(root / "test_spec" / "-a2Xy_Z2_000020.npy")))
    assert clip.shape == (3, 3, 32, 32)
    lines = (root / "vggsound.csv").read_text().splitlines()
    (root / "vggsound.csv").write_text("\n".join([*lines, "abc,12,dog barking"]) + "\n")
    with pytest.raises(DataFormatError, match="line 10"):
        CRMTDataModule(dataset="vggsound", root=str(root))
    with pytest.raises(DataNotFoundError, match=r"vggsound\.csv"):
        CRMTDataModule(dataset="vggsound", root=str(tmp_path / "none"))


def test_kinetics_sounds_from_raw_audio_and_official_frame_names(ks_root, layouts):
    """No test_spec/<name>.npy: the raw test_wav/test/<name>.wav goes through the fbank; frames named
    'frame_0000' + str(t) are read for t >= 10 (frame_000010.jpg), not only up to 9."""
    from crmt.audio import load_audio

    name = "te001xyzXYZ"
    (ks_root / "test_spec" / f"{name}.npy").unlink()
    layouts.wav(ks_root / "test_wav" / "test" / f"{name}.wav", np.random.default_rng(5))
    folder = ks_root / "val-frames-1fps" / "test" / name
    for f in folder.iterdir():
        f.unlink()
    for t in range(1, 31):  # 30 frames: test indices 5, 15, 25
        layouts.jpg(folder / f"frame_0000{t}.jpg", np.random.default_rng(t))
    dm = CRMTDataModule(dataset="kinetics_sounds", root=str(ks_root), image_size=32, audio_frames=64)
    dm.setup("test")
    assert [n for n, _ in dm.test_set.items] == ["te000xyzXYZ", name, "te002xyzXYZ"]
    (audio, clip), _ = dm.test_set[1]
    assert torch.equal(audio, load_audio(ks_root / "test_wav" / "test" / f"{name}.wav", 64))
    assert clip.shape == (3, 3, 32, 32)
