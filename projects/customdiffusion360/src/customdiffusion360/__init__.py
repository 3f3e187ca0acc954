"""Customizing Text-to-Image Diffusion with Camera (v2: Object) Viewpoint Control (CustomDiffusion360).

Nupur Kumari*, Grace Su*, Richard Zhang, Taesung Park, Eli Shechtman, Jun-Yan Zhu. SIGGRAPH Asia 2024,
arXiv:2404.12333. A frozen text-to-image model (SDXL) learns a new object from ~50 posed views: FeatureNeRF blocks
inside the UNet's transformer blocks volume-render reference-view features along the target camera's rays and fuse
them through an identity-initialised linear layer, so that "photo of a V* <category>" can be rendered at a chosen
camera pose. Only the pose modules and the V* token embedding train.
"""

from customdiffusion360.model import CustomDiffusion360, PoseConfig, load_delta, save_delta

__all__ = ["CD360DataModule", "CD360Module", "CustomDiffusion360", "PoseConfig", "load_delta", "main", "save_delta"]


def __getattr__(name: str):  # lazy: `import customdiffusion360` stays light (no Lightning) for model-only users
    if name == "CD360DataModule":
        from customdiffusion360.data import CD360DataModule

        return CD360DataModule
    if name == "CD360Module":
        from customdiffusion360.module import CD360Module

        return CD360Module
    if name == "main":
        from customdiffusion360.cli import main

        return main
    raise AttributeError(name)
