"""Shared test setup: the fixture writers (cd360_fixtures.py, importable from the tests) and fast CLI arguments
with a session-wide tiny base pre-trained for a few steps (so that CLI tests do not repeat the default's pre-training).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


# CLI arguments for seconds-long runs: a 3-step pre-trained base shared by the session, few eval draws and steps.
@pytest.fixture(scope="session")
def shared_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cd360_shared")
    return root / "data", root / "base"


@pytest.fixture
def fast_args(shared_dirs: tuple[Path, Path]) -> list[str]:
    data, base = shared_dirs
    return [
        f"--data.root={data}",
        f"--model.base_cache={base}",
        "--model.base_pretrain_steps=3",
        "--model.base_pretrain_batch=2",
        "--data.eval_batch_size=2",
        "--data.batch_size=2",
        "--model.eval_draws=1",
        "--model.sample_steps=2",
        "--data.generic_images=16",
        "--trainer.limit_val_batches=0.25",
        "--trainer.limit_test_batches=0.25",
    ]
