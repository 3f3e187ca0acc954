"""Raw audio → the official normalised Kaldi fbank (issue 20, item 5), cross-checked against the Kaldi fbank formula
written out in NumPy (25 ms Hanning frames every 10 ms, DC removal, pre-emphasis 0.97, power spectrum of the frame
zero-padded to a power of two (512 points at 16 kHz),
128 HTK-mel triangles from 20 Hz to Nyquist, log), then padded/trimmed to 1024 frames and normalised."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from crmt.audio import FBANK_MEAN, FBANK_STD, load_audio, normalised_fbank, read_wav
from paperkit.errors import DataFormatError


def _mel(f):
    return 1127.0 * np.log(1.0 + np.asarray(f) / 700.0)


def reference_fbank(wave: np.ndarray, sr: int, n_mels: int = 128) -> np.ndarray:
    """Kaldi ``compute-fbank-feats`` (htk_compat, no energy, dither 0, snip_edges) in float64 NumPy."""
    frame, shift = int(sr * 0.025), int(sr * 0.010)
    n_fft = 1 << (frame - 1).bit_length()  # padded to the next power of two (512 at 16 kHz)
    n = 1 + (len(wave) - frame) // shift
    frames = np.stack([wave[i * shift : i * shift + frame] for i in range(n)]).astype(np.float64)
    frames -= frames.mean(axis=1, keepdims=True)  # remove DC offset
    frames[:, 1:] -= 0.97 * frames[:, :-1].copy()  # pre-emphasis (the first sample against itself)
    frames[:, 0] -= 0.97 * frames[:, 0]
    frames *= 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / (frame - 1))  # symmetric Hanning window
    power = np.abs(np.fft.rfft(frames, n_fft)) ** 2  # (n, 257)
    mel_lo, mel_hi = _mel(20.0), _mel(sr / 2)
    delta = (mel_hi - mel_lo) / (n_mels + 1)
    fft_mel = _mel(np.arange(n_fft // 2) * sr / n_fft)  # Kaldi ignores the Nyquist bin
    banks = np.zeros((n_mels, n_fft // 2 + 1))
    for b in range(n_mels):
        left, centre, right = mel_lo + b * delta, mel_lo + (b + 1) * delta, mel_lo + (b + 2) * delta
        up, down = (fft_mel - left) / (centre - left), (right - fft_mel) / (right - centre)
        banks[b, : n_fft // 2] = np.maximum(0.0, np.minimum(up, down))
    return np.log(np.maximum(power @ banks.T, np.finfo(np.float32).eps))


def _tone(sr=16000, seconds=1.3, freq=700.0, seed=0):
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(seed)
    return (0.4 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.normal(size=t.size) + 0.1).astype(np.float32)


@pytest.mark.parametrize("sr", [16000, 22050])
def test_fbank_matches_the_kaldi_formula(sr):
    wave = _tone(sr)
    ref = reference_fbank(wave - wave.mean(), sr)  # the official script subtracts the waveform mean first
    ours = normalised_fbank(torch.from_numpy(wave)[None], sr, target_frames=1024).numpy()
    n = ref.shape[0]
    assert ours.shape == (1024, 128) and n == 1 + (len(wave) - int(sr * 0.025)) // int(sr * 0.01)
    np.testing.assert_allclose(ours[:n] * (2 * FBANK_STD) + FBANK_MEAN, ref, atol=2e-3, rtol=1e-4)
    np.testing.assert_allclose(ours[n:], -FBANK_MEAN / (2 * FBANK_STD), rtol=1e-6)  # zero-padded, then normalised
    # the 700 Hz tone lands in the mel band centred nearest mel(700)
    centres = _mel(20.0) + (np.arange(128) + 1) * (_mel(sr / 2) - _mel(20.0)) / 129
    assert abs(int(np.argmax(ref.mean(0))) - int(np.argmin(abs(centres - _mel(700.0))))) <= 1


def test_long_audio_is_trimmed_and_files_are_read(tmp_path):
    sr = 16000
    wave = _tone(sr, seconds=11.0)
    spec = normalised_fbank(torch.from_numpy(wave)[None], sr)
    assert spec.shape == (1024, 128)
    ref = reference_fbank(wave - wave.mean(), sr)[:1024]
    np.testing.assert_allclose(spec.numpy() * (2 * FBANK_STD) + FBANK_MEAN, ref, atol=2e-3, rtol=1e-4)
    wavfile.write(tmp_path / "a.wav", sr, (wave[: sr * 2] * 32767).astype(np.int16))
    x, rate = read_wav(tmp_path / "a.wav")
    assert rate == sr and x.shape == (1, 2 * sr) and np.abs(x.numpy() - wave[: 2 * sr]).max() < 1e-4
    from_wav = load_audio(tmp_path / "a.wav", 64)
    np.save(tmp_path / "w.npy", wave[: sr * 2])  # a .npy waveform at --data.audio_sample_rate
    assert from_wav.shape == (1, 64, 128)
    assert torch.allclose(load_audio(tmp_path / "w.npy", 64, sr), from_wav, atol=2e-3)
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataFormatError, match=r"bad\.npy"):
        load_audio(tmp_path / "bad.npy")
