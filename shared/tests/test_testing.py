"""paperkit.testing: the network guard and the tiny-trainer flags."""

from __future__ import annotations

import os
import socket

import pytest

from paperkit.testing import NetworkBlockedError, tiny_trainer_args


def test_network_is_blocked() -> None:
    with pytest.raises(NetworkBlockedError):
        socket.create_connection(("93.184.216.34", 80), timeout=1)
    with pytest.raises(NetworkBlockedError):
        socket.getaddrinfo("huggingface.co", 443)
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_loopback_is_allowed() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    cli = socket.create_connection(srv.getsockname(), timeout=1)
    cli.close()
    srv.close()


def test_tiny_trainer_args_overrides() -> None:
    args = tiny_trainer_args(trainer__max_epochs=3)
    assert "--trainer.max_epochs=3" in args and "--trainer.accelerator=cpu" in args
    assert "--trainer.max_epochs=1" not in args


def test_tests_run_with_one_torch_thread() -> None:
    import torch

    assert torch.get_num_threads() == 1  # paperkit.testing.one_torch_thread (autouse)
