"""Test helpers shared by every project's tests (loaded as a pytest plugin by the root ``conftest.py``).

* ``no_network`` (autouse): any socket connection to a non-local address fails the test; ``HF_HUB_OFFLINE=1``.
* ``one_torch_thread`` (autouse): every test runs with one torch intra-op thread, restored afterwards (tiny models on a
  shared 2-core CI machine are several times faster that way, and a CLI's ``--torch_threads`` does not leak).
* :data:`TINY_TRAINER` / :func:`tiny_trainer_args`: CLI overrides for a seconds-long CPU run.
* :func:`run_cli`: run a project's ``main`` inside a folder (``tmp_path``), return the newest run folder.
* :func:`assert_all_params_get_grad`: every trainable parameter receives a non-zero gradient from a loss.
* :func:`permute_batch`: a batch with its samples permuted (tensors, lists, tuples, dicts, dataclasses).
* :func:`local_http_server`: canned HTTP responses on 127.0.0.1 (downloads, API endpoints), with delays and errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from paperkit.runs import latest_run

__all__ = [
    "TINY_TRAINER",
    "NetworkBlockedError",
    "Response",
    "assert_all_params_get_grad",
    "local_http_server",
    "no_network",
    "one_torch_thread",
    "permute_batch",
    "run_cli",
    "tensors_of",
    "tiny_trainer_args",
]

# limit_*_batches: 2 batches, never 1: the CLI parses "1" as the float 1.0, which Lightning reads as "100 %".
TINY_TRAINER: dict[str, Any] = {
    "trainer.accelerator": "cpu",
    "trainer.devices": 1,
    "trainer.max_epochs": 1,
    "trainer.limit_train_batches": 2,
    "trainer.limit_val_batches": 2,
    "trainer.limit_test_batches": 2,
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
    return latest_run(Path(cwd, "runs"), slug) if slug else None


# --- model checks ---------------------------------------------------------------------------------------------------
def assert_all_params_get_grad(module: nn.Module, loss: torch.Tensor, *, allow: Sequence[str] = ()) -> None:
    """Backpropagate ``loss`` and assert every ``requires_grad`` parameter of ``module`` got a finite, non-zero
    gradient (names listed in ``allow``, as prefixes, are exempt). Gradients are cleared first."""
    module.zero_grad(set_to_none=True)
    assert loss.dim() == 0 and torch.isfinite(loss), f"loss must be a finite scalar, got {loss}"
    loss.backward()
    missing, zero, bad = [], [], []
    for name, p in module.named_parameters():
        if not p.requires_grad or name.startswith(tuple(allow)):
            continue
        if p.grad is None:
            missing.append(name)
        elif not torch.isfinite(p.grad).all():
            bad.append(name)
        elif not p.grad.abs().sum() > 0:
            zero.append(name)
    found = (("no grad", missing), ("zero grad", zero), ("non-finite grad", bad))
    problems = "; ".join(f"{what}: {names}" for what, names in found if names)
    assert not problems, f"parameters that the loss does not train (freeze them or fix the graph): {problems}"


def batch_size_of(batch: Any) -> int:
    """The first dimension of the first tensor found in a (nested) batch."""
    for leaf in _leaves(batch):
        if isinstance(leaf, torch.Tensor) and leaf.dim() > 0:
            return int(leaf.shape[0])
    raise ValueError("no tensor with a batch dimension in the batch")


def tensors_of(batch: Any) -> Iterator[torch.Tensor]:
    """Every tensor in a (nested) batch: dicts, dataclasses, lists and tuples are walked."""
    return (leaf for leaf in _leaves(batch) if isinstance(leaf, torch.Tensor))


def _leaves(batch: Any) -> Iterator[Any]:
    if isinstance(batch, Mapping):
        for v in batch.values():
            yield from _leaves(v)
    elif dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        for f in dataclasses.fields(batch):
            yield from _leaves(getattr(batch, f.name))
    elif isinstance(batch, list | tuple) and not _is_sample_list(batch):
        for v in batch:
            yield from _leaves(v)
    else:
        yield batch


def _is_sample_list(x: Any) -> bool:
    return isinstance(x, list) and bool(x) and all(isinstance(v, str | int | float) for v in x)


def permute_batch(batch: Any, perm: torch.Tensor, size: int | None = None) -> Any:
    """``batch`` with its samples reordered by ``perm``: every tensor whose first dimension is the batch size, and
    every list of per-sample strings/numbers of that length; dicts, tuples, lists and dataclasses are walked."""
    n = batch_size_of(batch) if size is None else size

    def go(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return x[perm.to(x.device)] if x.dim() > 0 and x.shape[0] == n else x
        if isinstance(x, Mapping):
            return type(x)({k: go(v) for k, v in x.items()})
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            return dataclasses.replace(x, **{f.name: go(getattr(x, f.name)) for f in dataclasses.fields(x) if f.init})
        if _is_sample_list(x) and len(x) == n:
            return [x[i] for i in perm.tolist()]
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            return type(x)(*(go(v) for v in x))
        if isinstance(x, list | tuple):
            return type(x)(go(v) for v in x)
        return x

    return go(batch)


# --- a local HTTP server --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Response:
    """A canned answer: status, body, content type, and a delay before answering (to test client timeouts)."""

    body: bytes | str = b""
    status: int = 200
    content_type: str = "application/octet-stream"
    delay_s: float = 0.0
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


@contextlib.contextmanager
def local_http_server(
    routes: Mapping[str, Response | Callable[[str, bytes], Response]],
) -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """Serve ``routes`` (path -> Response, or a function of (method, request body)) on 127.0.0.1.

    Yields ``(base_url, requests)`` where ``requests`` records ``(method, path, body)`` of every request. Unknown
    paths answer 404. The server runs in a daemon thread and stops when the block ends.
    """
    log: list[tuple[str, str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            log.append((method, self.path, body))
            route = routes.get(path)
            resp = route(method, body) if callable(route) else route
            if resp is None:
                resp = Response(b"not found", 404, "text/plain")
            if resp.delay_s:
                time.sleep(resp.delay_s)
            data = resp.body.encode() if isinstance(resp.body, str) else resp.body
            try:
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()
