"""Loaders for BCI Competition IV-2a (BNCI .mat and competition GDF) and the embedded synthetic generator."""

from eegencoder.datasets.bnci import find_session_file, load_bnci_session
from eegencoder.datasets.common import BCICIV_SOURCE, BNCI_SOURCE, CLASSES, EEG_CHANNELS, Session, window_samples
from eegencoder.datasets.gdf import GDF_EEG_NAMES, GDF_EOG_NAMES, load_classlabels, load_gdf_session
from eegencoder.datasets.synthetic import SyntheticMI, generate_session

__all__ = [
    "BCICIV_SOURCE",
    "BNCI_SOURCE",
    "CLASSES",
    "EEG_CHANNELS",
    "GDF_EEG_NAMES",
    "GDF_EOG_NAMES",
    "Session",
    "SyntheticMI",
    "find_session_file",
    "generate_session",
    "load_bnci_session",
    "load_classlabels",
    "load_gdf_session",
    "window_samples",
]
