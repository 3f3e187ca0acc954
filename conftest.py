"""Root conftest: every test in the workspace runs with the network blocked (see paperkit.testing)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

pytest_plugins = ["paperkit.testing"]
