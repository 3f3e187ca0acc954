"""dmdetect: "Robust CLIP-Based Detector for Exposing Diffusion Model-Generated Images" (Santosh, Li Lin, Irene
Amerini, Xin Wang, Shu Hu; IEEE 2024, arXiv 2404.12908).

A 3-layer MLP on frozen CLIP ViT-L/14 image + caption features, trained with gamma * CVaR_alpha(BCE) + (1 - gamma) *
a pairwise AUC surrogate under Sharpness-Aware Minimization, on ELSA D3 (real LAION images vs four diffusion models).
"""

from dmdetect.losses import auc_loss, cvar, cvar_threshold, detector_loss
from dmdetect.model import Detector, DetectorConfig
from dmdetect.sam import SAM, frozen_bn_stats

__all__ = [
    "SAM",
    "Detector",
    "DetectorConfig",
    "auc_loss",
    "cvar",
    "cvar_threshold",
    "detector_loss",
    "frozen_bn_stats",
]
