"""Loaders for BCI Competition IV-2a (BNCI .mat and competition GDF) and the embedded synthetic generator."""

from eegencoder.datasets.bnci import find_session_file, load_bnci_session
from eegencoder.datasets.common import BCICIV_SOURCE, BNCI_SOURCE, CLASSES, EEG_CHANNELS, Session, window_samples
from eegencoder.datasets.gdf import GDF_EEG_NAMES, GDF_EOG_NAMES, load_classlabels, load_gdf_session
from eegencoder.datasets.synthetic import SyntheticMI, generate_session
from eegencoder.datasets.ts import TS_SOURCE, TsFile, find_ts_pair, read_channel_names, read_ts

__all__ = [
    "BCICIV_SOURCE",
    "BNCI_SOURCE",
    "CLASSES",
    "EEG_CHANNELS",
    "GDF_EEG_NAMES",
    "GDF_EOG_NAMES",
    "TS_SOURCE",
    "Session",
    "SyntheticMI",
    "TsFile",
    "find_session_file",
    "find_ts_pair",
    "generate_session",
    "load_bnci_session",
    "load_classlabels",
    "load_gdf_session",
    "read_channel_names",
    "read_ts",
    "window_samples",
]
