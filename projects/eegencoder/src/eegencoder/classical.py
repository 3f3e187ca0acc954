"""Classical baselines for the comparison tables: shrinkage LDA on hand-made features (no deep learning).

* ``lowpass``: the slow-potential features of the BCI Competition II (data set IV) literature: each channel low-passed
  (zero-phase Butterworth, order 4, ``cutoff_hz``) and sampled every ``step_s`` seconds, all channels concatenated.
  For FingerMovements (28 x 50 at 100 Hz) that is 5 samples per channel, 140 features: the lateralised readiness
  potential is a slow shift, not an oscillation.
* ``logvar``: 8-30 Hz band power, the log-variance of each channel after a zero-phase Butterworth band-pass (order 4),
  the motor-imagery (ERD) feature.

Both are classified by LDA with Ledoit-Wolf shrinkage (scikit-learn ``solver="lsqr", shrinkage="auto"``), fitted on
the training split of the DataModule (the same trials the networks train on, validation excluded) and scored once on
its test split. The feature settings are fixed in advance; nothing is chosen on the test split. The result does not
depend on a seed.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
from scipy.signal import butter, sosfiltfilt
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import cohen_kappa_score

from eegencoder.data import EEGDataModule

__all__ = ["features", "lda_baseline"]

Features = Literal["lowpass", "logvar"]


def features(
    x: np.ndarray, sfreq: float, kind: Features, cutoff_hz: float = 5.0, step_s: float = 0.1, band=(8.0, 30.0)
) -> np.ndarray:
    """(N, C, T) trials -> (N, F) features."""
    if kind == "lowpass":
        sos = butter(4, cutoff_hz, "lowpass", fs=sfreq, output="sos")
        xf = sosfiltfilt(sos, x, axis=-1)
        step = max(1, round(step_s * sfreq))
        return xf[:, :, step - 1 :: step].reshape(len(x), -1)  # the samples at step_s, 2 step_s, ... (the window end)
    if kind == "logvar":
        sos = butter(4, list(band), "bandpass", fs=sfreq, output="sos")
        return np.log(sosfiltfilt(sos, x, axis=-1).var(-1) + 1e-12)
    raise ValueError(f"unknown features '{kind}' (lowpass, logvar)")


def lda_baseline(dm: EEGDataModule, kind: Features) -> dict[str, float]:
    """Fit shrinkage LDA on ``dm``'s training split, test once on its test split: ``test/acc``, ``test/kappa``."""
    t0 = time.perf_counter()
    dm.setup("fit")
    xtr, ytr = dm.train_set.tensors[0].numpy(), dm.train_set.tensors[1].numpy()
    xte, yte = dm.test_set.tensors[0].numpy(), dm.test_set.tensors[1].numpy()
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
    lda.fit(features(xtr, dm.sfreq, kind), ytr)
    pred = lda.predict(features(xte, dm.sfreq, kind))
    return {
        "test/acc": float((pred == yte).mean()),
        "test/kappa": float(cohen_kappa_score(yte, pred)),
        "time_s": time.perf_counter() - t0,
    }
