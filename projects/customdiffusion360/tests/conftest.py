"""Shared test setup: the fixture writers (cd360_fixtures.py, importable from the tests) and fast CLI arguments
with a session-wide tiny base pre-trained for a few steps (so that CLI tests do not repeat the default's pre-training).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cd360_fixtures import fast_cli_args


# CLI arguments for seconds-long runs: a 3-step pre-trained base shared by the session, few eval draws and steps.
@pytest.fixture(scope="session")
def shared_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cd360_shared")
    return root / "data", root / "base"


@pytest.fixture
def fast_args(shared_dirs: tuple[Path, Path]) -> list[str]:
    data, base = shared_dirs
    return fast_cli_args(data, base)
