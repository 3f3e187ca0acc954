"""paperkit.testing: the network guard and the tiny-trainer flags."""

from __future__ import annotations

import dataclasses
import os
import socket
import urllib.error
import urllib.request

import pytest
import torch
from torch import nn

from paperkit.testing import (
    NetworkBlockedError,
    Response,
    assert_all_params_get_grad,
    local_http_server,
    permute_batch,
    tiny_trainer_args,
)


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


def test_assert_all_params_get_grad_catches_a_detached_branch() -> None:
    torch.manual_seed(0)
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    model = nn.ModuleDict({"a": a, "b": b})
    x = torch.randn(4, 3)
    assert_all_params_get_grad(model, (a(x) + b(x)).pow(2).mean())
    with pytest.raises(AssertionError, match=r"b\.weight"):
        assert_all_params_get_grad(model, (a(x) + b(x).detach()).pow(2).mean())
    b.requires_grad_(False)  # frozen on purpose: exempt
    assert_all_params_get_grad(model, (a(x) + b(x)).pow(2).mean())
    with pytest.raises(AssertionError):
        assert_all_params_get_grad(model, torch.tensor(float("nan"), requires_grad=True))


@dataclasses.dataclass
class _Batch:
    x: torch.Tensor
    ids: list
    shared: torch.Tensor


def test_permute_batch_walks_containers_and_keeps_shared_tensors() -> None:
    perm = torch.tensor([2, 0, 1])
    x = torch.arange(6.0).reshape(3, 2)
    batch = {"x": x, "pair": (x[:, 0], ["a", "b", "c"]), "table": torch.zeros(5, 2), "d": _Batch(x, [7, 8, 9], x[0])}
    out = permute_batch(batch, perm)
    assert torch.equal(out["x"], x[perm]) and out["pair"][1] == ["c", "a", "b"]
    assert torch.equal(out["table"], batch["table"])  # first dim is not the batch size: untouched
    assert out["d"].ids == [9, 7, 8] and torch.equal(out["d"].shared, x[0])


def test_local_http_server_serves_routes_errors_and_delays() -> None:
    routes = {"/ok": Response("hello", content_type="text/plain"), "/slow": Response(b"late", delay_s=1.0)}
    with local_http_server(routes) as (url, requests):
        assert urllib.request.urlopen(f"{url}/ok", timeout=5).read() == b"hello"
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(f"{url}/missing", timeout=5)
        assert exc.value.code == 404
        with pytest.raises(TimeoutError):
            urllib.request.urlopen(f"{url}/slow", timeout=0.2).read()
    assert [r[1] for r in requests][:2] == ["/ok", "/missing"]
