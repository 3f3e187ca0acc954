"""KAMCL: Knowledge-Aware Multi-Intent Contrastive Learning for Multi-Behavior Recommendation.

Shunpan Liang, Junjie Zhao, Chen Li, Yu Lei. arXiv:2404.11993 (2024); venue unconfirmed (Elsevier template).
No official code exists; this package is a reconstruction from the abstract and the lineage (KGIN, KMCLR, CML,
KG-Mber). Every inferred choice is a config option (see the README, "Reconstruction choices").
"""

from kamcl.data import KAMCLDataModule
from kamcl.model import BPRMF, KAMCL, KAMCLConfig, MergedLightGCN, Popularity
from kamcl.module import KAMCLModule

__all__ = ["BPRMF", "KAMCL", "KAMCLConfig", "KAMCLDataModule", "KAMCLModule", "MergedLightGCN", "Popularity"]
