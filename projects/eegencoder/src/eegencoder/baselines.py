"""Model zoo for the comparison: EEGEncoder, EEGEncoder without transformer streams, braindecode EEGNet and ATCNet.

All take (B, C, T) and return (B, K) logits. The baselines reuse the projector kernels and pools from the config so
that their conv stems see the same time scales as EEGEncoder's (which matters at 125 Hz).
"""

from __future__ import annotations

import dataclasses

from torch import nn

from eegencoder.model import EEGEncoder, EEGEncoderConfig

__all__ = ["ARCHS", "build_model"]

ARCHS = ("eegencoder", "eegencoder_no_transformer", "eegnet", "atcnet")


def build_model(arch: str, cfg: EEGEncoderConfig) -> nn.Module:
    """Build ``arch`` for ``cfg.n_chans`` x ``cfg.n_times`` inputs and ``cfg.n_classes`` classes."""
    if arch == "eegencoder":
        return EEGEncoder(cfg)
    if arch == "eegencoder_no_transformer":
        return EEGEncoder(dataclasses.replace(cfg, use_transformer=False))
    if arch == "eegnet":
        from braindecode.models import EEGNet  # heavy import, only when asked for

        return EEGNet(
            n_chans=cfg.n_chans,
            n_outputs=cfg.n_classes,
            n_times=cfg.n_times,
            F1=8,
            D=2,
            kernel_length=cfg.kernel_1,
            drop_prob=cfg.dropout,
        )
    if arch == "atcnet":
        from braindecode.models import ATCNet

        return ATCNet(
            n_chans=cfg.n_chans,
            n_outputs=cfg.n_classes,
            n_times=cfg.n_times,
            conv_block_kernel_length_1=cfg.kernel_1,
            conv_block_kernel_length_2=cfg.kernel_2,
            conv_block_pool_size_1=cfg.pool_1,
            conv_block_pool_size_2=cfg.pool_2,
            n_windows=cfg.n_branches,
        )
    raise ValueError(f"unknown arch '{arch}', choose from {ARCHS}")
