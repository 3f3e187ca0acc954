"""CRMT: "Quantifying and Enhancing Multi-modal Robustness with Modality Preference".

Zequn Yang, Yake Wei, Ce Liang, Di Hu. ICLR 2024 (poster). arXiv:2402.06244.
Certifiable Robust Multi-modal Training: an orthonormal per-modality linear head weighted per class by ``a``,
a uni-modal margin regulariser (step 1) and certified-radius maximisation over ``a`` (step 2).
"""

from crmt.certify import crmt_radius, estimate_lipschitz, jt_radius, margin_regularizer, step1_loss
from crmt.data import CRMTDataModule, make_synthetic
from crmt.model import MultiModalNet
from crmt.module import CRMTModule

__all__ = [
    "CRMTDataModule",
    "CRMTModule",
    "MultiModalNet",
    "crmt_radius",
    "estimate_lipschitz",
    "jt_radius",
    "make_synthetic",
    "margin_regularizer",
    "step1_loss",
]
