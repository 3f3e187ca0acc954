"""SAMI: Self-Supervised Alignment with Mutual Information: Learning to Follow Principles without Preference Labels.

J.-P. Fränken, E. Zelikman, R. Rafailov, K. Gandhi, T. Gerstenberg, N. D. Goodman. NeurIPS 2024, arXiv 2404.14313.
A pretrained LM writes responses under constitutions (principles and partly negated versions) and is fine-tuned to
make each response most likely under its own constitution and vice versa: an InfoNCE bound on I(Y; C | X).
"""

from sami.model import SamiLossConfig, logprob_matrix, mi_lower_bound, sami_loss

__all__ = ["SamiLossConfig", "logprob_matrix", "mi_lower_bound", "sami_loss"]
