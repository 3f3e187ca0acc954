"""EEGEncoder: Advancing BCI with Transformer-Based Motor Imagery Classification.

Wangdan Liao, Hongyun Liu, Weidong Wang. arXiv:2404.14869 (2024); journal version "Advancing BCI with a
transformer-based model for motor imagery classification", Scientific Reports 15:23380 (2025).

A conv down-sampling projector turns 22-channel motor-imagery EEG into tokens; five parallel Dual-Stream
Temporal-Spatial (DSTS) branches (a dilated causal TCN + a LLaMA-style causal transformer) produce logits that are
averaged. Trained per subject on BCI Competition IV-2a.
"""

from eegencoder.model import EEGEncoder, EEGEncoderConfig

__all__ = ["EEGDataModule", "EEGEncoder", "EEGEncoderConfig", "EEGEncoderModule", "main"]


def __getattr__(name: str):  # lazy: `import eegencoder` stays light (no Lightning) for model-only users
    if name == "EEGDataModule":
        from eegencoder.data import EEGDataModule

        return EEGDataModule
    if name == "EEGEncoderModule":
        from eegencoder.module import EEGEncoderModule

        return EEGEncoderModule
    if name == "main":
        from eegencoder.cli import main

        return main
    raise AttributeError(name)
