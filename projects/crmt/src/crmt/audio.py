"""Raw audio → the normalised Kaldi fbank the official CRMT preprocessing writes (``pre-processing/extract_audio.py``).

``wav`` → waveform minus its mean → ``torchaudio.compliance.kaldi.fbank`` (128 mel bins, Hanning window, 25 ms
frames with a 10 ms shift, ``htk_compat``, no energy, dither 0, at the file's own sample rate) → zero-pad or trim to
``target_frames`` (1024) frames → ``(fbank + 4.503877) / (2 · 5.141276)``. The result is the ``(1024, 128)`` array
that ``{train,test}_spec/<name>.npy`` holds.

WAV files are read with :mod:`scipy.io.wavfile` (PCM 8/16/32-bit or float), scaled to [-1, 1) as ``torchaudio.load``
does (torchaudio 2.9+ moved its file reading to the separate torchcodec package); only the first channel is used, as
in Kaldi's fbank.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = ["FBANK_MEAN", "FBANK_STD", "N_MELS", "load_audio", "normalised_fbank", "read_wav"]

FBANK_MEAN, FBANK_STD = -4.503877, 5.141276  # official normalisation constants (AudioSet statistics)
N_MELS = 128


def read_wav(path: str | Path) -> tuple[Tensor, int]:
    """``(waveform (channels, samples) float32 in [-1, 1), sample rate)`` of a WAV file."""
    from scipy.io import wavfile

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError("audio", path.parent, missing=[path.name], expected=[path.name])
    try:
        sr, data = wavfile.read(path)
    except (ValueError, OSError, EOFError) as err:
        raise DataFormatError(path, f"not a readable WAV file ({err})", expected="a PCM or float WAV file") from None
    if data.dtype == np.uint8:
        wave = (data.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        wave = data.astype(np.float32) / float(-np.iinfo(data.dtype).min)
    else:
        wave = data.astype(np.float32)
    if wave.size == 0:
        raise DataFormatError(path, "no samples", expected="a non-empty WAV file")
    wave = wave[:, None] if wave.ndim == 1 else wave  # (samples, channels)
    return torch.from_numpy(np.ascontiguousarray(wave.T)), int(sr)


def normalised_fbank(waveform: Tensor, sample_rate: int, target_frames: int = 1024) -> Tensor:
    """The official ``(target_frames, 128)`` normalised log-mel fbank of a ``(channels, samples)`` waveform."""
    from torchaudio.compliance import kaldi

    waveform = waveform - waveform.mean()
    fbank = kaldi.fbank(
        waveform,
        htk_compat=True,
        sample_frequency=sample_rate,
        use_energy=False,
        window_type="hanning",
        num_mel_bins=N_MELS,
        dither=0.0,
        frame_shift=10,
    )
    pad = target_frames - fbank.shape[0]
    if pad > 0:
        fbank = torch.nn.functional.pad(fbank, (0, 0, 0, pad))
    fbank = fbank[:target_frames]
    return (fbank - FBANK_MEAN) / (FBANK_STD * 2)


def load_audio(path: str | Path, target_frames: int = 1024, sample_rate: int = 16000) -> Tensor:
    """A clip's audio input ``(1, target_frames, 128)``: a ``.wav`` file, a ``.npy`` waveform (1-D, or channels x
    samples, at ``sample_rate``), or a ``.npy`` fbank already normalised by the official script (``(F, 128)``)."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError("audio", path.parent, missing=[path.name], expected=[path.name])
    expected = "a .wav file, a .npy waveform (samples,) or a .npy normalised fbank (frames, 128)"
    if path.suffix.lower() == ".wav":
        wave, sr = read_wav(path)
        return normalised_fbank(wave, sr, target_frames)[None]
    if path.suffix.lower() != ".npy":
        raise DataFormatError(path, f"unknown audio file type '{path.suffix}'", expected=expected)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataFormatError(path, f"not a NumPy .npy array ({err})", expected=expected) from None
    if not np.issubdtype(arr.dtype, np.number) or arr.size == 0:
        raise DataFormatError(path, f"array of dtype {arr.dtype} and shape {arr.shape}", expected=expected)
    if arr.ndim == 2 and arr.shape[1] == N_MELS:  # a precomputed normalised fbank (the KS/VGGSound *_spec files)
        spec = torch.from_numpy(arr.astype(np.float32))
        spec = torch.nn.functional.pad(spec, (0, 0, 0, max(0, target_frames - spec.shape[0])))[:target_frames]
        return spec[None]
    if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[0] <= 8):  # a waveform (samples,) or (channels, samples)
        wave = torch.from_numpy(np.atleast_2d(arr).astype(np.float32))
        return normalised_fbank(wave, sample_rate, target_frames)[None]
    raise DataFormatError(path, f"array of shape {arr.shape}", expected=expected)
