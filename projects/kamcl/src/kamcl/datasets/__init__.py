"""Dataset readers (CML/KMCLR format) and the embedded synthetic generator."""

from kamcl.datasets.formats import DATASETS, MultiBehaviourData, carve_validation, load_cml, shuffle_relation_tails
from kamcl.datasets.synthetic import SYNTHETIC_BEHAVIOURS, SYNTHETIC_RELATIONS, SyntheticConfig, write_synthetic

__all__ = [
    "DATASETS",
    "SYNTHETIC_BEHAVIOURS",
    "SYNTHETIC_RELATIONS",
    "MultiBehaviourData",
    "SyntheticConfig",
    "carve_validation",
    "load_cml",
    "shuffle_relation_tails",
    "write_synthetic",
]
