"""Diff-ST: "Cross-modal Diffusion Modelling for Super-resolved Spatial Transcriptomics", Xiaofei Wang, Xingxu Huang,
Stephen J. Price, Chao Li, MICCAI 2024 (LNCS pp. 98-108), arXiv 2404.12973.

A conditional diffusion model that super-resolves spot-level gene-expression maps from the spot map and the matching
H&E histology (tissue-level image + entropy-sorted cell-level tiles).
"""

from diffst.diffusion import GaussianDiffusion, space_timesteps
from diffst.model import DiffSTConfig, DiffSTUNet

__all__ = ["DiffSTConfig", "DiffSTUNet", "GaussianDiffusion", "space_timesteps"]
