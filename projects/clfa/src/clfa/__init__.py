"""CLFA: "Multi-modal Semantic Understanding with Contrastive Cross-modal Feature Alignment".

Ming Zhang, Ke Chang, Yunfang Wu. LREC-COLING 2024. arXiv:2403.06355.

BERT text tokens and ViT image tokens are projected into CLIP's 512-d space and pulled toward frozen CLIP text /
image embeddings by a symmetric in-batch InfoNCE, then fused by a cross-attention encoder for multimodal sarcasm
detection (MMSD, MMSD2.0) and sentiment analysis (MVSA).
"""

from clfa.api import predict
from clfa.data import CLFADataModule
from clfa.losses import clfa_loss, contrastive_alignment
from clfa.model import CLFA, CLFAConfig
from clfa.module import CLFAModule

__all__ = ["CLFA", "CLFAConfig", "CLFADataModule", "CLFAModule", "clfa_loss", "contrastive_alignment", "predict"]
