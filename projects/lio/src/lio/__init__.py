"""Look-into-Object: Self-supervised Structure Modeling for Object Recognition (Zhou, Bai, Zhang, Zhao, Mei;
CVPR 2020, arXiv 2003.14142).

A fine-grained classifier trained with two self-supervised, training-only heads: Object-Extent Learning (a per-cell
object mask regressed onto pseudo-masks from feature correlations with same-class images) and Spatial Context Learning
(polar coordinates of object cells relative to the object centre). Loss CE + 0.1 OEL + 0.1 SCL; inference is the plain
backbone.
"""

from lio.model import LIO, Classifier, LIOConfig, LIOHeads

__all__ = ["LIO", "Classifier", "LIOConfig", "LIOHeads"]
