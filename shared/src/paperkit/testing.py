"""Test helpers shared by every project's tests (loaded as a pytest plugin by the root ``conftest.py``).

* ``no_network`` (autouse): any socket connection to a non-local address fails the test; ``HF_HUB_OFFLINE=1``.
* ``one_torch_thread`` (autouse): every test runs with one torch intra-op thread, restored afterwards (tiny models on a
  shared 2-core CI machine are several times faster that way, and a CLI's ``--torch_threads`` does not leak).
* :data:`TINY_TRAINER` / :func:`tiny_trainer_args`: CLI overrides for a seconds-long CPU run.
* :func:`run_cli`: run a project's ``main`` inside a folder (``tmp_path``), return the newest run folder.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "TINY_TRAINER",
    "NetworkBlockedError",
    "latest_run",
    "no_network",
    "one_torch_thread",
    "run_cli",
    "tiny_trainer_args",
]

TINY_TRAINER: dict[str, Any] = {
    "trainer.accelerator": "cpu",
    "trainer.devices": 1,
    "trainer.max_epochs": 1,
    "trainer.limit_train_batches": 2,
    "trainer.limit_val_batches": 1,
    "trainer.limit_test_batches": 1,
    "trainer.enable_progress_bar": False,
    "trainer.enable_model_summary": False,
    "trainer.num_sanity_val_steps": 0,
}


def tiny_trainer_args(**overrides: Any) -> list[str]:
    """``--trainer.*`` flags for a tiny CPU run; keyword overrides use ``__`` for dots (``trainer__max_epochs=2``)."""
    values = dict(TINY_TRAINER)
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return [f"--{k}={v}" for k, v in values.items()]


class NetworkBlockedError(RuntimeError):
    """Raised when a test tries to reach the network."""


_LOCAL = ("127.", "::1", "localhost", "0.0.0.0")


def _is_local(address: Any) -> bool:
    if isinstance(address, tuple | list) and address:
        host = str(address[0])
    else:  # AF_UNIX paths and the like
        return True
    return host.startswith(_LOCAL) or host == ""


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run the test with one torch intra-op thread and restore the previous count afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Block every non-loopback socket connection and force the Hugging Face hubs offline."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise NetworkBlockedError(f"tests must not use the network (tried to connect to {address!r})")
        return real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise NetworkBlockedError(f"tests must not use the network (tried to connect to {address!r})")
        return real_connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_local((host,)):
            raise NetworkBlockedError(f"tests must not use the network (tried to resolve {host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    yield


def latest_run(root: str | Path, slug: str) -> Path:
    """The newest ``runs/<slug>/version_N`` under ``root``."""
    versions = sorted(Path(root, "runs", slug).glob("version_*"), key=lambda p: int(p.name.removeprefix("version_")))
    if not versions:
        raise FileNotFoundError(f"no run folder under {Path(root, 'runs', slug)}")
    return versions[-1]


def run_cli(
    main: Callable[[list[str] | None], Any],
    args: Sequence[str],
    cwd: str | Path,
    slug: str | None = None,
) -> Path | None:
    """Run ``main(args)`` with ``cwd`` as the working directory; return the newest run folder (if ``slug``)."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        main(list(args))
    finally:
        os.chdir(old)
    return latest_run(cwd, slug) if slug else None
