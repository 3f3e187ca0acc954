"""Make the shared contract helpers (tests/workspace.py) importable from the workspace tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
