"""Embedded synthetic 4-class motor-imagery generator (our construction, see the README; it stands in for
BCI Competition IV-2a).

Physiology it imitates, per trial of ``n_times`` samples at ``sfreq`` Hz, 22 channels of the 10-20 montage, in µV:

* **background**: 1/f^alpha ("pink") noise at one source under every electrode, spatially mixed by a Gaussian kernel on
  electrode distance (volume conduction), ~10 µV RMS, plus white sensor noise;
* **rhythms**: narrow-band mu (subject peak 9-12 Hz) and weaker beta (18-26 Hz) oscillators at sources under
  C3, C4, Cz, C5 and C6, mixed by the same kernel;
* **class effect** (Pfurtscheller's event-related (de)synchronisation): after the cue the rhythm envelope drops,
  ``a(t) = 1 - depth * sigmoid((t - t_on) / 0.15)``: left hand -> ERD at C4 (ERS at C3), right hand -> ERD at C3
  (ERS at C4), feet -> ERD at Cz (mild ERS at C3/C4), tongue -> ERD at C5 and C6 (mild ERS at C3/C4);
* **variability**: per-subject rhythm frequencies, depths and source gains; per-session channel gains (±10 %) and
  seeds, so the "E" session is shifted from the "T" session; per-trial onset and depth jitter;
* **artefacts**: frontal blinks on Fz/FC, slow drift, a small 50 Hz line.

``difficulty`` (0 = easy, 1 = hard) weakens the ERD, adds trials without ERD and enlarges the session shift.
Everything is a deterministic function of ``(seed, subject, session)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eegencoder.datasets.common import CLASSES, EEG_CHANNELS

__all__ = ["CHANNELS", "SyntheticMI", "electrode_positions", "generate_session"]

CHANNELS: tuple[str, ...] = EEG_CHANNELS  # the 22 EEG channels of BCI IV-2a

# (x, y) on a grid with one electrode spacing (~2.5 cm) per unit; x left -> right, y back -> front.
_POS = {
    "Fz": (0, 2), "FC3": (-2, 1), "FC1": (-1, 1), "FCz": (0, 1), "FC2": (1, 1), "FC4": (2, 1),
    "C5": (-3, 0), "C3": (-2, 0), "C1": (-1, 0), "Cz": (0, 0), "C2": (1, 0), "C4": (2, 0), "C6": (3, 0),
    "CP3": (-2, -1), "CP1": (-1, -1), "CPz": (0, -1), "CP2": (1, -1), "CP4": (2, -1),
    "P1": (-1, -2), "Pz": (0, -2), "P2": (1, -2), "POz": (0, -3),
}  # fmt: skip

_RHYTHM_SITES = ("C3", "C4", "Cz", "C5", "C6")
# Per class, the envelope effect at each rhythm site: negative = ERD (scaled by the trial depth), positive = ERS.
_CLASS_EFFECT = {
    0: {"C4": -1.0, "C3": +0.1},  # left hand: contralateral (right hemisphere) ERD
    1: {"C3": -1.0, "C4": +0.1},  # right hand
    2: {"Cz": -1.0, "C3": +0.05, "C4": +0.05},  # feet: vertex ERD, mild bilateral hand-area ERS
    3: {"C5": -1.0, "C6": -1.0, "C3": +0.05, "C4": +0.05},  # tongue: bilateral lateral ERD
}


def electrode_positions() -> np.ndarray:
    """(22, 2) grid positions of :data:`CHANNELS`."""
    return np.array([_POS[c] for c in CHANNELS], dtype=np.float64)


def _mixing(sigma: float) -> np.ndarray:
    """(22, 22) volume-conduction kernel: column j = scalp projection of the source under electrode j."""
    pos = electrode_positions()
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
    m = np.exp(-d2 / (2 * sigma**2))
    return m  # peak 1 at the source electrode


def _colored_noise(rng: np.random.Generator, shape: tuple[int, ...], sfreq: float, gain: np.ndarray) -> np.ndarray:
    """Noise whose amplitude spectrum is ``gain`` (a function of frequency, broadcast over ``shape[:-1]``)."""
    n = shape[-1]
    f = n // 2 + 1
    spec = np.empty((*shape[:-1], f), dtype=np.complex64)
    spec.real = rng.standard_normal(spec.shape, dtype=np.float32)
    spec.imag = rng.standard_normal(spec.shape, dtype=np.float32)
    spec *= gain.astype(np.float32)
    x = np.fft.irfft(spec, n=n, axis=-1)
    return x / (x.std(axis=-1, keepdims=True) + 1e-12)  # unit RMS per series


@dataclass
class SyntheticMI:
    """Generator settings (the defaults are the embedded benchmark, see the README)."""

    sfreq: float = 125.0
    n_times: int = 562  # 4.5 s; the cue is at 0.5 s (window 1.5-6.0 s after trial start)
    cue_s: float = 0.5
    trials_per_class: int = 144  # per session (the real data has 72)
    difficulty: float = 0.4
    background_uv: float = 10.0
    sensor_noise_uv: float = 1.5
    rhythm_uv: tuple[float, float] = (6.0, 10.0)
    erd_depth: tuple[float, float] = (0.4, 0.7)
    mixing_sigma: float = 1.0
    session_gain: float = 0.03
    artefacts: bool = True


def _subject_params(cfg: SyntheticMI, seed: int, subject: int) -> dict:
    rng = np.random.default_rng([seed, subject, 0])
    return {
        "mu_f": rng.uniform(9.0, 12.0),
        "beta_f": rng.uniform(18.0, 26.0),
        "amp": rng.uniform(*cfg.rhythm_uv, size=len(_RHYTHM_SITES)),  # µV per rhythm source
        "depth_scale": rng.uniform(0.8, 1.2),
        "alpha": rng.uniform(0.8, 1.2, size=len(CHANNELS)),  # 1/f exponent per background source
    }


def generate_session(
    cfg: SyntheticMI, seed: int = 0, subject: int = 1, session: str = "T"
) -> tuple[np.ndarray, np.ndarray]:
    """One session: X (N, 22, n_times) float32 µV and y (N,) int64 in 0..3, in (shuffled) recording order."""
    sp = _subject_params(cfg, seed, subject)
    rng = np.random.default_rng([seed, subject, 1 + ("T", "E").index(session)])
    n_cls = len(CLASSES)
    n, t_len, fs = n_cls * cfg.trials_per_class, cfg.n_times, cfg.sfreq
    y = rng.permutation(np.repeat(np.arange(n_cls), cfg.trials_per_class))
    t = np.arange(t_len) / fs
    freqs = np.fft.rfftfreq(t_len, 1 / fs)
    mix = _mixing(cfg.mixing_sigma)  # (22, 22)
    ch = {c: i for i, c in enumerate(CHANNELS)}
    diff = float(np.clip(cfg.difficulty, 0.0, 1.0))

    # background: pink sources mixed to the scalp
    pink_gain = np.maximum(freqs, 0.5)[None, :] ** (-sp["alpha"][:, None] / 2)  # (22, F) amplitude ~ f^(-alpha/2)
    src = _colored_noise(rng, (n, len(CHANNELS), t_len), fs, pink_gain[None])  # (N, 22, T)
    x = np.einsum("ij,njt->nit", mix, src)
    x *= cfg.background_uv / x.std()

    # mu / beta rhythms with class-specific ERD envelopes
    depth = rng.uniform(*cfg.erd_depth, size=n) * sp["depth_scale"] * (1.0 - 0.3 * diff)  # (N,)
    depth[rng.random(n) < 0.5 * diff] = 0.0  # trials where the subject did not produce an ERD
    t_on = cfg.cue_s + 0.5 + rng.uniform(-0.2, 0.2, size=n)  # (N,)
    rise = 1.0 / (1.0 + np.exp(-(t[None, :] - t_on[:, None]) / 0.15))  # (N, T) sigmoid
    for band_f, width, rel in ((sp["mu_f"], 1.0, 1.0), (sp["beta_f"], 2.0, 0.5)):
        gain = np.exp(-0.5 * ((freqs - band_f) / width) ** 2)[None, None]  # narrow band around the peak
        osc = _colored_noise(rng, (n, len(_RHYTHM_SITES), t_len), fs, gain)  # (N, 5, T)
        erd_rel = 1.0 if rel == 1.0 else 0.6  # beta ERD weaker than mu
        for j, site in enumerate(_RHYTHM_SITES):
            effect = np.array([_CLASS_EFFECT[int(c)].get(site, 0.0) for c in y])  # (N,)
            scale = np.where(effect < 0, -effect * depth * erd_rel, effect)  # ERD depth or ERS gain
            env = 1.0 + np.sign(effect)[:, None] * scale[:, None] * rise  # (N, T)
            x += (rel * sp["amp"][j]) * (env * osc[:, j])[:, None, :] * mix[:, ch[site]][None, :, None]

    # artefacts: blinks (frontal), drift, 50 Hz line
    if cfg.artefacts:
        blink = rng.random(n) < 0.3
        tb = rng.uniform(0, t[-1], size=n)
        shape = np.exp(-0.5 * ((t[None, :] - tb[:, None]) / 0.1) ** 2) * rng.uniform(40, 80, size=(n, 1))  # (N, T)
        front = np.zeros(len(CHANNELS))
        front[[ch["Fz"], ch["FC1"], ch["FCz"], ch["FC2"]]] = (1.0, 0.5, 0.6, 0.5)
        x += blink[:, None, None] * shape[:, None, :] * front[None, :, None]
        x += rng.normal(0, 3.0, size=(n, len(CHANNELS), 1)) * (t / t[-1])[None, None, :]  # linear drift
        x += 0.5 * np.sin(2 * np.pi * 50.0 * t + rng.uniform(0, 2 * np.pi, size=(n, 1, 1)))

    x += cfg.sensor_noise_uv * rng.standard_normal(x.shape)
    # session shift: channel gains (±session_gain, more with difficulty)
    g = cfg.session_gain * (1 + diff)
    x *= rng.uniform(1 - g, 1 + g, size=(1, len(CHANNELS), 1))
    return x.astype(np.float32), y.astype(np.int64)
