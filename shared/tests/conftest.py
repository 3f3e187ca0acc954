"""Make the toy project importable for paperkit's own tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "toy_pkg"))
