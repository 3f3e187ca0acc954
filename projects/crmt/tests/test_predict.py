"""`crmt predict` on users' raw clips (issue 20, item 4): a .wav / .npy audio file with a frame folder, or a list file
of them, written as class probabilities and each sample's certified radius; n_classes from the label lists."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from crmt.audio import normalised_fbank
from crmt.cli import main
from crmt.data import CRMTDataModule
from paperkit.errors import DataFormatError, DataNotFoundError, PaperkitError
from paperkit.testing import run_cli, tiny_trainer_args

KS_ARGS = [
    "--data.dataset=kinetics_sounds",
    "--data.image_size=32",
    "--data.audio_frames=64",
    "--data.batch_size=2",
]


@pytest.fixture(scope="module")
def ks_model(tmp_path_factory, layouts) -> tuple[Path, Path]:
    """A CRMT model (both steps, 1 batch each) on a 3-class Kinetics-Sounds fixture, n_classes left unset."""
    tmp = tmp_path_factory.mktemp("ks_predict")
    root = layouts.ks(tmp / "ks", n_train=4, n_test=2, n_classes=3, spec_shape=(64, 128))
    args = ["fit", *KS_ARGS, f"--data.root={root}", "--data.val_fraction=0.25", "--model.step1_epochs=1",
            "--model.step2_epochs=1", *tiny_trainer_args(trainer__max_epochs=2, trainer__limit_train_batches=1,
                                                         trainer__limit_val_batches=1)]  # fmt: skip
    run = run_cli(main, args, tmp, "crmt")
    return tmp, run / "checkpoints" / "last.ckpt"


def _user_clips(folder: Path, layouts) -> dict[str, Path]:
    """Two users' clips: a 16 kHz PCM16 .wav and a .npy waveform, each with a frame folder named as the official
    loader names frames (``'frame_0000' + str(t)``, so frame_000012.jpg for t = 12)."""
    rng = np.random.default_rng(3)
    t = np.arange(16000) / 16000
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.normal(size=t.size)
    wavfile.write(folder / "dog.wav", 16000, (wave * 32767).astype(np.int16))
    np.save(folder / "car.npy", (0.5 * np.sin(2 * np.pi * 1500 * t)).astype(np.float32))
    for clip in ("dog_frames", "car_frames"):
        for i in range(1, 13):
            layouts.jpg(folder / clip / f"frame_0000{i}.jpg", rng)
    (folder / "clips.txt").write_text("# audio  frames\ndog.wav dog_frames\n\ncar.npy car_frames\n")
    return {"wav": folder / "dog.wav", "npy": folder / "car.npy", "list": folder / "clips.txt"}


def _predict(tmp: Path, ckpt: Path, extra: list[str]) -> list[dict[str, str]]:
    args = ["predict", f"--ckpt_path={ckpt}", *KS_ARGS, "--trainer.enable_progress_bar=false", *extra]
    run = run_cli(main, args, tmp, "crmt")
    with open(run / "predictions.csv") as f:
        return list(csv.DictReader(f))


def test_predict_on_raw_clips_writes_probabilities_and_radius(ks_model, tmp_path, layouts):
    tmp, ckpt = ks_model
    hp = torch.load(ckpt, weights_only=False)["hyper_parameters"]
    assert hp["n_classes"] == 3  # from the label lists (labels 0, 1, 2), no --data.n_classes given
    clips = _user_clips(tmp_path, layouts)
    rows = _predict(tmp, ckpt, [f"--data.predict_file={clips['list']}"])
    assert [r["input"].split()[0] for r in rows] == [str(clips["wav"]), str(clips["npy"])]
    for r in rows:
        probs = [float(r[f"p_{k}"]) for k in range(3)]
        assert abs(sum(probs) - 1) < 1e-4 and int(r["predicted"]) == int(np.argmax(probs))
        assert float(r["certified_radius"]) >= 0.0
    # one clip without a list: the same inputs as its list row; the .wav goes through the official fbank, so the
    # same clip given as the precomputed (normalised) fbank .npy is the same input
    sr, pcm = wavfile.read(clips["wav"])
    spec = normalised_fbank(torch.from_numpy(pcm.astype(np.float32) / 32768)[None], sr, 64)
    np.save(tmp_path / "dog_spec.npy", spec.numpy())
    listed = _predict_set(clips["list"])[0][0]
    for audio in (clips["wav"], tmp_path / "dog_spec.npy"):
        single = _predict_set(audio, tmp_path / "dog_frames")
        assert len(single) == 1
        assert torch.allclose(single[0][0][0], listed[0], atol=1e-6) and torch.equal(single[0][0][1], listed[1])
    assert listed[0].shape == (1, 64, 128) and listed[1].shape == (3, 3, 32, 32)


def _predict_set(file: Path, frames: Path | None = None):
    dm = CRMTDataModule(dataset="kinetics_sounds", image_size=32, audio_frames=64, predict_file=str(file),
                        predict_frames=None if frames is None else str(frames))  # fmt: skip
    dm.setup("predict")
    return dm.predict_set


def _refused(tmp: Path, ckpt: Path, extra: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        _predict(tmp, ckpt, extra)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_bad_clips_are_one_paragraph_errors(ks_model, tmp_path, capsys, layouts):
    tmp, ckpt = ks_model
    clips = _user_clips(tmp_path, layouts)
    bad_list = tmp_path / "bad.txt"
    bad_list.write_text("dog.wav dog_frames\ncar.npy no_such_folder\n")
    with pytest.raises(DataNotFoundError, match="line 2 of"):
        _predict_set(bad_list)
    (tmp_path / "three.txt").write_text("dog.wav dog_frames extra\n")
    with pytest.raises(DataFormatError, match="line 1 has 3 fields"):
        _predict_set(tmp_path / "three.txt")
    with pytest.raises(PaperkitError, match=r"--data\.predict_frames"):
        _predict_set(clips["wav"])
    (tmp_path / "noise.wav").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataFormatError, match=r"noise\.wav.*WAV"):
        _predict_set(tmp_path / "noise.wav", tmp_path / "dog_frames")[0]
    # through the CLI: exit 2, one paragraph; the checkpoint's head size and modalities win over --data
    assert "n_classes" in _refused(tmp, ckpt, ["--data.n_classes=5", f"--data.predict_file={clips['list']}"], capsys)
    args = ["predict", f"--ckpt_path={ckpt}", f"--data.predict_file={clips['list']}"]
    with pytest.raises(SystemExit) as exc:
        run_cli(main, args, tmp)
    assert exc.value.code == 2 and "--data.dataset kinetics_sounds" in capsys.readouterr().err


def test_ucf101_clip_list_gives_rgb_and_flow_inputs(ucf_root, tmp_path):
    video = "v_Archery_g03_c01"  # a test-list video
    (tmp_path / "ucf.txt").write_text(f"{ucf_root}/rgb/{video} {ucf_root}/flow/{video}_u {ucf_root}/flow/{video}_v\n")
    dm = CRMTDataModule(dataset="ucf101", n_classes=2, image_size=24, predict_file=str(tmp_path / "ucf.txt"))
    dm.setup("predict")
    (rgb, flow), index = dm.predict_set[0]
    assert rgb.shape == (3, 3, 24, 24) and flow.shape == (2, 3, 24, 24) and index == 0
    test = CRMTDataModule(dataset="ucf101", root=str(ucf_root), image_size=24)
    test.setup("test")
    i = [v for v, _ in test.test_set.items].index(video)
    (rgb_t, flow_t), _ = test.test_set[i]  # the same evaluation transforms as the test split
    assert torch.equal(rgb, rgb_t) and torch.equal(flow, flow_t)
