"""The DataModule: BCI IV-2a (BNCI .mat / competition GDF) or the embedded synthetic data, split by protocol.

The paper's recipe and data, and our synthetic generator (README). Protocols (never select a model on the test session):

* ``subject_dependent``: per subject, train on session T minus its last ``val_fraction`` (recording order, i.e. the
  last runs), validate on that held-out part of T, test on session E. Several ``subjects`` are pooled.
* ``loso`` (leave one subject out, as ATCNet): train on T+E of every subject but ``test_subject`` (the last
  ``val_fraction`` of each session held out for validation), test on T+E of ``test_subject``.

``selection``: ``val`` (default) as above; ``test_peak`` reproduces the official code's reporting: no validation split,
the whole training session(s) train, and the *test* trials are the validation set, so the best-``val/acc`` checkpoint
is the best epoch on the test session (optimistic, test-set selection; only to compare with the paper's figures).

Standardisation is fitted on the training trials only: one mean/std per channel (default) or per channel and time
sample (``channel_time``, the official code's StandardScaler on an (N x T) matrix per channel). The fitted statistics
are part of the DataModule state, so they travel in every checkpoint and ``predict`` on a new recording uses them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, TensorDataset

from eegencoder.datasets import (
    BCICIV_SOURCE,
    BNCI_SOURCE,
    CLASSES,
    EEG_CHANNELS,
    Session,
    SyntheticMI,
    TsFile,
    find_session_file,
    find_ts_pair,
    generate_session,
    load_bnci_session,
    load_gdf_session,
    read_channel_names,
    read_ts,
    window_samples,
)
from paperkit.errors import DataFormatError, PaperkitError

__all__ = ["EEGDataModule", "PreprocessingMismatchError", "Standardizer", "load_recording", "preprocessing_mismatch"]

log = logging.getLogger(__name__)

Dataset = Literal["synthetic", "bnci2014_001", "bciciv2a_gdf", "ts"]


class Standardizer:
    """z-scoring fitted on training trials: per channel (stats (C, 1)) or per channel and time sample (C, T)."""

    def __init__(self, mode: Literal["channel", "channel_time", "none"] = "channel") -> None:
        self.mode = mode
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> Standardizer:  # x: (N, C, T)
        axes = (0, 2) if self.mode == "channel" else (0,)
        self.mean = x.mean(axis=axes, keepdims=True)[0].astype(np.float32)  # (C, 1) or (C, T)
        self.std = (x.std(axis=axes, keepdims=True)[0] + 1e-6).astype(np.float32)
        return self

    @property
    def fitted(self) -> bool:
        return self.mode == "none" or self.mean is not None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.mode == "none":
            return x
        if self.mean is None or self.std is None:
            raise PaperkitError("the standardisation is not fitted: pass --ckpt_path of a trained run to predict")
        return (x - self.mean) / self.std

    def state_dict(self) -> dict[str, torch.Tensor]:
        if self.mean is None or self.std is None:
            return {}
        return {"mean": torch.from_numpy(self.mean), "std": torch.from_numpy(self.std)}  # mode: in "preprocessing"

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if state:
            self.mean, self.std = state["mean"].numpy(), state["std"].numpy()


def load_recording(
    path: str | Path, tmin: float = 1.5, tmax: float = 6.0, sfreq: float = 250.0, class_labels: list[str] | None = None
) -> Session:
    """Any single recording file for ``predict``: a BNCI ``.mat`` session, a competition ``.gdf`` session, or a UEA
    ``.ts`` file (trials as stored; ``class_labels`` maps its labels). Labels are read where the file (or the GDF's
    ``.mat`` labels file) has them, else -1 (a user's unlabeled recording)."""
    path = Path(path)
    if not path.is_file():
        raise PaperkitError(
            f"predict: recording '{path}' does not exist (a BNCI A0sX.mat, a competition A0sX.gdf or a UEA .ts file)"
        )
    session = path.stem[-1] if path.stem[-1] in "TE" else "?"
    if path.suffix.lower() == ".gdf":
        labels = path.with_suffix(".mat")
        return load_gdf_session(path, 0, session, labels if labels.is_file() else None, tmin, tmax, sfreq,
                                require_labels=False)  # fmt: skip
    if path.suffix.lower() == ".mat":
        return load_bnci_session(path, 0, session, tmin, tmax, sfreq, require_labels=False)
    if path.suffix.lower() == ".ts":
        f = read_ts(path, class_labels=class_labels)
        names = read_channel_names(path.with_name(f"{path.stem.rsplit('_', 1)[0]}.txt"), f.x.shape[1])
        channels = tuple(names) if names else None
        return Session(f.x, f.y, 0, session, sfreq, np.zeros(len(f.y), dtype=bool), 0, channels)
    raise DataFormatError(
        path, "unknown recording format", expected="a BNCI '.mat' session, a competition '.gdf' or a UEA '.ts' file"
    )


# what a checkpoint records about its input, and how the fields read in an error message
_PREPROCESSING_FIELDS = {
    "sfreq": "sampling rate (Hz)",
    "window_s": "trial window (s after trial start)",
    "n_times": "samples per trial",
    "channels": "channels",
    "standardize": "standardisation",
}


def _unnamed(n: int) -> list[str]:
    return [f"ch{i + 1}" for i in range(n)]


def _show(key: str, value: object) -> str:
    if key == "channels" and isinstance(value, list | tuple):
        return f"{len(value)} [{', '.join(map(str, value))}]"
    if key == "window_s" and value is None:
        return "the whole stored trial"
    return str(value)


def preprocessing_mismatch(trained: dict, other: dict) -> list[str]:
    """The preprocessing fields on which ``other`` differs from ``trained``, as 'field: trained X, here Y'."""
    out = []
    for key, label in _PREPROCESSING_FIELDS.items():
        if key in trained and key in other and trained[key] != other[key]:
            out.append(f"{label}: trained with {_show(key, trained[key])}, here {_show(key, other[key])}")
    return out


class PreprocessingMismatchError(PaperkitError):
    """``predict`` (or a resume) with options or a recording that differ from the checkpoint's preprocessing."""

    def __init__(self, what: str, differences: list[str], ckpt: str | None = None) -> None:
        source = f"the checkpoint {ckpt}" if ckpt else "the checkpoint"
        super().__init__(
            f"{what} differ from the preprocessing {source} was trained with: {'; '.join(differences)}. "
            "Predictions on differently prepared input would be meaningless. Pass the options the model was trained "
            "with (e.g. the run's own --config runs/eegencoder/version_N/config.yaml) and a recording of the same "
            "channels and trial length."
        )


class EEGDataModule(LightningDataModule):
    """Motor-imagery trials (B, 22, T) with labels 0-3 (left hand, right hand, feet, tongue) and the subject id."""

    def __init__(
        self,
        dataset: Dataset = "synthetic",
        root: str = "data/eegencoder",
        subjects: list[int] | None = None,
        protocol: Literal["subject_dependent", "loso"] = "subject_dependent",
        test_subject: int | None = None,
        val_fraction: float = 0.2,
        tmin: float = 1.5,
        tmax: float = 6.0,
        sfreq: float = 250.0,
        standardize: Literal["channel", "channel_time", "none"] = "channel",
        drop_rejected: bool = False,
        batch_size: int = 64,
        num_workers: int = 0,
        synthetic_trials_per_class: int = 144,
        synthetic_difficulty: float = 0.4,
        synthetic_seed: int = 0,
        predict_file: str | None = None,
        ts_name: str | None = None,
        selection: Literal["val", "test_peak"] = "val",
    ) -> None:
        super().__init__()
        self.dataset = dataset
        self.root = root
        self.subjects = list(subjects) if subjects else [1]
        self.protocol = protocol
        self.test_subject = test_subject
        self.val_fraction = val_fraction
        self.tmin, self.tmax, self.sfreq = tmin, tmax, sfreq
        self.drop_rejected = drop_rejected
        self.batch_size, self.num_workers = batch_size, num_workers
        self.synthetic = SyntheticMI(
            sfreq=sfreq,
            n_times=window_samples(tmin, tmax, sfreq),
            cue_s=2.0 - tmin,  # the cue is 2 s after trial start
            trials_per_class=synthetic_trials_per_class,
            difficulty=synthetic_difficulty,
        )
        self.synthetic_seed = synthetic_seed
        self.predict_file = predict_file
        self.standardizer = Standardizer(standardize)
        self.class_names = list(CLASSES)
        self.channel_names = list(EEG_CHANNELS)
        self.train_set = self.val_set = self.test_set = self.predict_set = None
        self.trained_preprocessing: dict[str, object] | None = None  # from a loaded checkpoint
        self._predict_recording: Session | None = None
        if protocol == "loso" and len(self.subjects) < 2:
            raise PaperkitError("protocol 'loso' needs at least two --data.subjects")
        if selection not in ("val", "test_peak"):
            raise PaperkitError(f"--data.selection must be 'val' or 'test_peak', not '{selection}'")
        self.selection = selection
        self.ts_name = ts_name
        self._ts: dict[str, TsFile] | None = None
        if dataset == "ts":
            self._load_ts()

    def _load_ts(self) -> None:
        """Read the ``<ts_name>_TRAIN.ts`` / ``_TEST.ts`` pair once: it fixes channels, length and classes."""
        if not self.ts_name:
            raise PaperkitError("--data.dataset ts needs --data.ts_name (e.g. FingerMovements) and --data.root")
        if self.protocol != "subject_dependent" or self.subjects != [1]:
            raise PaperkitError(
                "--data.dataset ts holds one recording pair (TRAIN / TEST): use protocol subject_dependent and "
                f"subjects [1], not {self.protocol} / {self.subjects}"
            )
        train_path, test_path = find_ts_pair(self.root, self.ts_name)
        train = read_ts(train_path)
        test = read_ts(test_path, class_labels=train.class_labels)  # indices in the TRAIN file's stated order
        if test.x.shape[1:] != train.x.shape[1:]:
            raise DataFormatError(
                test_path, f"trials of {test.x.shape[1:]} (channels, samples), TRAIN has {train.x.shape[1:]}"
            )
        self._ts = {"T": train, "E": test}
        self.class_names = list(train.class_labels)
        n_chans = train.x.shape[1]
        names = read_channel_names(train_path.with_name(f"{self.ts_name}.txt"), n_chans)
        self.channel_names = names or _unnamed(n_chans)

    # sizes linked to the model
    @property
    def n_chans(self) -> int:
        return len(self.channel_names)

    @property
    def n_times(self) -> int:
        if self._ts is not None:
            return int(self._ts["T"].x.shape[2])
        return window_samples(self.tmin, self.tmax, self.sfreq)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def preprocessing(self) -> dict[str, object]:
        """What the model's input depends on; stored in every checkpoint and checked by ``predict``."""
        return {
            "sfreq": float(self.sfreq),
            "window_s": None if self.dataset == "ts" else [float(self.tmin), float(self.tmax)],
            "n_times": int(self.n_times),
            "channels": list(self.channel_names),
            "standardize": self.standardizer.mode,
        }

    # --- loading ----------------------------------------------------------------------------------------------------
    def load_session(self, subject: int, session: str) -> Session:
        if self.dataset == "synthetic":
            x, y = generate_session(self.synthetic, self.synthetic_seed, subject, session)
            return Session(x, y, subject, session, self.sfreq, np.zeros(len(y), dtype=bool))
        if self.dataset == "bnci2014_001":
            path = find_session_file(self.root, subject, session, "mat", self.dataset, BNCI_SOURCE)
            return load_bnci_session(path, subject, session, self.tmin, self.tmax, self.sfreq)
        if self.dataset == "bciciv2a_gdf":
            labels = [f"A0{subject}E.mat (true labels)"]
            path = find_session_file(self.root, subject, session, "gdf", self.dataset, BCICIV_SOURCE, labels)
            label_path = None
            if session == "E":
                label_path = path.with_name(f"A0{subject}E.mat")
                if not label_path.is_file():
                    find_session_file(self.root, subject, "E", "mat", self.dataset, BCICIV_SOURCE, labels)
            s = load_gdf_session(path, subject, session, label_path, self.tmin, self.tmax, self.sfreq)
            if s.nan_samples:
                log.info("subject %d session %s: %d NaN samples interpolated", subject, session, s.nan_samples)
            return s
        if self.dataset == "ts":
            f = self._ts[session]  # T = the TRAIN file, E = the TEST file
            return Session(f.x, f.y, subject, session, self.sfreq, np.zeros(len(f.y), dtype=bool))
        raise PaperkitError(f"unknown dataset '{self.dataset}' (synthetic, bnci2014_001, bciciv2a_gdf, ts)")

    def _trials(self, s: Session) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keep = ~s.rejected if (self.drop_rejected and s.rejected.size) else np.ones(len(s.y), dtype=bool)
        return s.x[keep], s.y[keep], np.full(int(keep.sum()), s.subject, dtype=np.int64)

    def _split(self, s: Session) -> tuple[tuple, tuple]:
        """(train, val): the last ``val_fraction`` of the session in recording order is held out (nothing with
        ``selection='test_peak'``: the whole session trains, as in the official code)."""
        x, y, g = self._trials(s)
        n_val = 0 if self.selection == "test_peak" else round(self.val_fraction * len(y))
        cut = len(y) - n_val
        return (x[:cut], y[:cut], g[:cut]), (x[cut:], y[cut:], g[cut:])

    def setup(self, stage: str | None = None) -> None:
        if stage == "predict":
            self._setup_predict()
            return
        if self.train_set is not None:
            return
        train, val, test = [], [], []
        if self.protocol == "subject_dependent":
            for subj in self.subjects:
                tr, va = self._split(self.load_session(subj, "T"))
                train.append(tr), val.append(va), test.append(self._trials(self.load_session(subj, "E")))
        else:
            held_out = self.test_subject if self.test_subject is not None else self.subjects[-1]
            if held_out not in self.subjects:
                raise PaperkitError(f"--data.test_subject {held_out} is not among --data.subjects {self.subjects}")
            for subj in self.subjects:
                for sess in ("T", "E"):
                    s = self.load_session(subj, sess)
                    if subj == held_out:
                        test.append(self._trials(s))
                    else:
                        tr, va = self._split(s)
                        train.append(tr), val.append(va)
        if self.selection == "test_peak":  # the official code's reporting: the test trials are the validation set
            val = test
            log.warning("selection 'test_peak': the checkpoint is chosen on the TEST trials (optimistic, as the "
                        "official code reports); not a held-out estimate")  # fmt: skip
        cat = [tuple(np.concatenate(parts) for parts in zip(*split)) for split in (train, val, test)]
        if self.standardizer.mode != "none":
            self.standardizer.fit(cat[0][0])  # training trials only
        self.train_set, self.val_set, self.test_set = (self._tensors(*c) for c in cat)
        log.info("trials: train %d, val %d, test %d", *(len(d) for d in (self.train_set, self.val_set, self.test_set)))

    def _setup_predict(self) -> None:
        if self.predict_file:
            s = load_recording(self.predict_file, self.tmin, self.tmax, self.sfreq, self.class_names)
            self._predict_raw = (s.x, s.y, np.arange(len(s.y)))
            self._predict_recording = s
        else:  # no file: the test session(s) of the configured data
            tests = [self._trials(self.load_session(subj, "E")) for subj in self.subjects]
            x, y, _ = (np.concatenate(p) for p in zip(*tests))
            self._predict_raw = (x, y, np.arange(len(y)))

    def _tensors(self, x: np.ndarray, y: np.ndarray, g: np.ndarray) -> TensorDataset:
        x = self.standardizer(x)
        return TensorDataset(
            torch.from_numpy(np.ascontiguousarray(x, np.float32)), torch.from_numpy(y), torch.from_numpy(g)
        )

    # --- state (the fitted standardisation) travels in checkpoints --------------------------------------------------
    # --- state (the preprocessing and the fitted standardisation) travels in checkpoints -----------------------------
    def state_dict(self) -> dict[str, object]:
        return {"standardizer": self.standardizer.state_dict(), "preprocessing": self.preprocessing()}

    def load_state_dict(self, state_dict: dict[str, object]) -> None:
        """Restore the fitted statistics; refuse options that differ from the checkpoint's preprocessing."""
        trained = state_dict.get("preprocessing")
        if trained is None:
            log.warning("this checkpoint predates the stored preprocessing: its input options are not checked")
        else:
            self.trained_preprocessing = dict(trained)
            diff = preprocessing_mismatch(self.trained_preprocessing, self.preprocessing())
            if diff:
                raise PreprocessingMismatchError("The data options of this command", diff)
        self.standardizer.load_state_dict(state_dict.get("standardizer", {}))

    def check_recording(self, s: Session, path: str | Path) -> None:
        """Refuse a ``predict`` recording whose channels or trial length differ from the trained preprocessing."""
        expected = self.trained_preprocessing or self.preprocessing()
        here: dict[str, object] = {"n_times": int(s.x.shape[2])}
        trained_names = list(expected["channels"])
        if s.channels is not None and trained_names != _unnamed(len(trained_names)):
            here["channels"] = list(s.channels)
        elif s.x.shape[1] != len(trained_names):  # a side without names: the count decides
            here["channels"] = list(s.channels) if s.channels is not None else _unnamed(s.x.shape[1])
        diff = preprocessing_mismatch(expected, here)
        if diff:
            raise PreprocessingMismatchError(f"The channels or trials of the recording '{path}'", diff)

    # --- loaders ---------------------------------------------------------------------------------------------------
    def _loader(self, ds: TensorDataset, shuffle: bool) -> DataLoader:
        return DataLoader(ds, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        # checked and standardised here, not in setup: the checkpoint's state is restored after setup()
        if self._predict_recording is not None:
            self.check_recording(self._predict_recording, self.predict_file)
        self.predict_set = self._tensors(*self._predict_raw)
        return self._loader(self.predict_set, shuffle=False)
