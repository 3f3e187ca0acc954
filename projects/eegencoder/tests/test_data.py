"""Data tests: synthetic generator, the BNCI .mat and GDF loaders on fixtures in the official formats, splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from eegencoder.data import EEGDataModule, PreprocessingMismatchError, Standardizer, load_recording
from eegencoder.datasets import (
    EEG_CHANNELS,
    SyntheticMI,
    generate_session,
    load_bnci_session,
    load_gdf_session,
)
from paperkit.errors import DataFormatError, DataNotFoundError


# --- synthetic ---
def test_synthetic_shapes_balance_and_determinism() -> None:
    cfg = SyntheticMI(trials_per_class=6)
    x, y = generate_session(cfg, seed=3, subject=2, session="T")
    assert x.shape == (24, 22, 562) and x.dtype == np.float32
    assert np.bincount(y).tolist() == [6, 6, 6, 6]
    x2, y2 = generate_session(cfg, seed=3, subject=2, session="T")
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = generate_session(cfg, seed=3, subject=2, session="E")
    assert not np.allclose(x, x3)
    assert 5 < x.std() < 30  # µV scale of scalp EEG


def _logvar_features(x: np.ndarray, fs: float) -> np.ndarray:
    sos = butter(4, [8, 30], "bandpass", fs=fs, output="sos")
    xf = sosfiltfilt(sos, x, axis=-1)
    idx = [EEG_CHANNELS.index(c) for c in ("C3", "C4", "Cz", "C5", "C6")]
    return np.log(xf[:, idx, int(1.0 * fs) :].var(-1))  # after the cue


def test_synthetic_signal_is_there_but_not_trivial() -> None:
    """8-30 Hz log-variance + shrinkage LDA, trained on T, tested on E: well above chance, below 0.90 (held out)."""
    cfg = SyntheticMI()
    xt, yt = generate_session(cfg, 0, 1, "T")
    xe, ye = generate_session(cfg, 0, 1, "E")
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(_logvar_features(xt, cfg.sfreq), yt)
    acc = lda.score(_logvar_features(xe, cfg.sfreq), ye)
    assert 0.45 < acc <= 0.90


# --- BNCI .mat ---
def test_bnci_mat_roundtrip(bnci_root) -> None:
    root, content = bnci_root
    s = load_bnci_session(root / "A01T.mat", 1, "T")
    expected = np.concatenate([r.windows for r in content["T"]])
    assert s.x.shape == (16, 22, 1125)
    np.testing.assert_allclose(s.x, expected, atol=1e-4)
    np.testing.assert_array_equal(s.y, np.concatenate([r.y for r in content["T"]]))
    np.testing.assert_array_equal(s.rejected, np.concatenate([r.artifacts for r in content["T"]]))


def test_bnci_decimation_to_125hz(bnci_root) -> None:
    root, _ = bnci_root
    s = load_bnci_session(root / "A01T.mat", 1, "T", sfreq=125.0)
    assert s.x.shape == (16, 22, 562)


@pytest.mark.parametrize("layout", ["s1", "MNE-bnci-data/database/data-sets/001-2014"])
def test_bnci_found_in_official_and_moabb_layouts(tmp_path: Path, fixtures_io, layout: str) -> None:
    for sess in "TE":
        fixtures_io.write_bnci_mat(tmp_path / layout / f"A01{sess}.mat", [fixtures_io.make_session(8, session=sess)])
    dm = EEGDataModule(dataset="bnci2014_001", root=str(tmp_path), subjects=[1], val_fraction=0.25)
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (6, 2, 8)


def test_missing_folder_names_files_and_download_page(tmp_path: Path) -> None:
    dm = EEGDataModule(dataset="bnci2014_001", root=str(tmp_path / "nowhere"), subjects=[3])
    with pytest.raises(DataNotFoundError) as err:
        dm.setup("fit")
    msg = str(err.value)
    assert "A03T.mat" in msg and "A03E.mat" in msg and "bnci-horizon-2020.eu" in msg


def test_malformed_mat_is_a_format_error(tmp_path: Path, fixtures_io) -> None:
    import scipy.io

    scipy.io.savemat(tmp_path / "A01T.mat", {"foo": np.zeros(3)})
    with pytest.raises(DataFormatError, match="no variable 'data'"):
        load_bnci_session(tmp_path / "A01T.mat", 1, "T")
    (tmp_path / "A02T.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(DataFormatError, match="MATLAB"):
        load_bnci_session(tmp_path / "A02T.mat", 2, "T")


def test_wrong_channel_count_is_refused(tmp_path: Path, fixtures_io) -> None:
    path = fixtures_io.write_bnci_mat(tmp_path / "A01T.mat", [fixtures_io.make_session(4)], n_channels=20)
    with pytest.raises(DataFormatError, match="20 channels found"):
        load_bnci_session(path, 1, "T")


# --- GDF ---
def test_gdf_roundtrip_with_cues_rejections_and_nans(tmp_path: Path, fixtures_io) -> None:
    sess = fixtures_io.make_session(8)
    sess.signal[3, sess.starts[2] + 400 : sess.starts[2] + 405] = np.nan  # 5 NaN samples inside trial 2
    path = fixtures_io.write_competition_gdf(tmp_path / "A01T.gdf", sess, reject=(1, 4))
    s = load_gdf_session(path, 1, "T")
    assert s.x.shape == (8, 22, 1125)
    np.testing.assert_array_equal(s.y, sess.y)
    assert s.rejected.tolist() == [i in (1, 4) for i in range(8)]
    assert s.nan_samples == 5 and np.isfinite(s.x).all()
    ok = [i for i in range(8) if i != 2]
    np.testing.assert_allclose(s.x[ok], sess.windows[ok], atol=1e-3)


def test_gdf_evaluation_session_labels_from_classlabel_mat(tmp_path: Path, fixtures_io) -> None:
    sess = fixtures_io.make_session(8, session="E")
    path = fixtures_io.write_competition_gdf(tmp_path / "A01E.gdf", sess, with_cues=False)
    with pytest.raises(DataFormatError, match="783"):
        load_gdf_session(path, 1, "E")
    labels = fixtures_io.write_classlabels(tmp_path / "A01E.mat", sess.y)
    s = load_gdf_session(path, 1, "E", labels)
    np.testing.assert_array_equal(s.y, sess.y)
    assert load_recording(path).y.tolist() == sess.y.tolist()  # predict: labels found beside the GDF


def test_gdf_wrong_channel_set_is_refused_with_channels_found(tmp_path: Path, fixtures_io) -> None:
    sess = fixtures_io.make_session(4)
    names = [f"Ch{i}" for i in range(25)]
    path = fixtures_io.write_gdf(tmp_path / "A01T.gdf", sess.signal, names, [(int(s), 768) for s in sess.starts])
    with pytest.raises(DataFormatError, match="wrong channel set: found") as err:
        load_gdf_session(path, 1, "T")
    assert "Ch0" in str(err.value)


def test_gdf_datamodule_needs_the_true_labels_file(tmp_path: Path, fixtures_io) -> None:
    for sess in "TE":
        s = fixtures_io.make_session(8, session=sess)
        fixtures_io.write_competition_gdf(tmp_path / f"A01{sess}.gdf", s, with_cues=sess == "T")
    dm = EEGDataModule(dataset="bciciv2a_gdf", root=str(tmp_path), subjects=[1])
    with pytest.raises(DataNotFoundError, match=r"A01E\.mat"):
        dm.setup("fit")


# --- splits and standardisation ---
def _synthetic_dm(**kw) -> EEGDataModule:
    base = dict(sfreq=125.0, synthetic_trials_per_class=10, val_fraction=0.25)
    return EEGDataModule(**{**base, **kw})


def test_subject_dependent_split_never_uses_the_test_session() -> None:
    dm = _synthetic_dm(subjects=[1, 2])
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (60, 20, 80)
    xt, _yt = generate_session(dm.synthetic, 0, 1, "T")
    # validation = the last quarter of T in recording order, standardised with training statistics
    val_subject1 = dm.val_set.tensors[0][dm.val_set.tensors[2] == 1].numpy()
    np.testing.assert_allclose(val_subject1, dm.standardizer(xt[30:]), atol=1e-5)


def test_standardizer_is_fitted_on_training_trials_only() -> None:
    dm = _synthetic_dm()
    dm.setup("fit")
    x = dm.train_set.tensors[0].numpy()
    np.testing.assert_allclose(x.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=(0, 2)), 1, atol=1e-3)
    assert abs(dm.test_set.tensors[0].numpy().mean(axis=(0, 2))).max() > 1e-3  # E is not re-fitted
    st = Standardizer("channel_time").fit(np.random.default_rng(0).normal(size=(10, 3, 7)))
    assert st.mean.shape == (3, 7)


def test_loso_holds_out_one_subject() -> None:
    dm = _synthetic_dm(subjects=[1, 2, 3], protocol="loso", test_subject=2)
    dm.setup("fit")
    assert set(dm.test_set.tensors[2].tolist()) == {2}
    assert set(dm.train_set.tensors[2].tolist()) == {1, 3}
    assert len(dm.test_set) == 80 and len(dm.train_set) + len(dm.val_set) == 160


def test_datamodule_state_carries_preprocessing_and_refuses_other_options() -> None:
    """The state saved in checkpoints holds the preprocessing; loading it into a differently configured DataModule
    (the Python API path, e.g. ``trainer.predict(..., ckpt_path=...)``) is refused; the same options load."""
    state = EEGDataModule(sfreq=125.0, synthetic_trials_per_class=2).state_dict()
    assert state["preprocessing"]["n_times"] == 562 and state["preprocessing"]["standardize"] == "channel"
    EEGDataModule(sfreq=125.0).load_state_dict(state)
    with pytest.raises(PreprocessingMismatchError, match=r"standardisation: trained with channel, here none"):
        EEGDataModule(sfreq=125.0, standardize="none").load_state_dict(state)
    with pytest.raises(PreprocessingMismatchError, match=r"sampling rate \(Hz\): trained with 125.0, here 250.0"):
        EEGDataModule(sfreq=250.0).load_state_dict(state)
