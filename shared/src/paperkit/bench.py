"""Training-throughput benchmark harness (``make bench``).

A :class:`BenchTarget` is a model, a batch factory and a loss step. :func:`measure` runs ``warmup`` untimed optimiser
steps, then ``steps`` timed ones, and reports steps/s, samples/s and peak memory: CUDA max-allocated bytes on a GPU,
the peak resident set size (sampled every 5 ms in a background thread) above the pre-measurement RSS on the CPU.
:func:`compare` measures one reference and several candidates in the same process, one after the other, and reports
each candidate's ratios to the reference, so that the figure does not depend on the machine's absolute speed.
:func:`time_fn` times any callable (inference, sampling, feature extraction) the same way.

``python -m paperkit.bench summarize runs/bench/*.json`` turns the per-project JSON files into one markdown table.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.utilities import move_data_to_device
from torch import nn

from paperkit.report import markdown_table, save_json

__all__ = ["BenchTarget", "bench_arg_parser", "compare", "measure", "summarize", "time_fn", "write_bench"]


@dataclass
class BenchTarget:
    """What to benchmark.

    Attributes:
        name: label in the report (e.g. ``"eegencoder"``, ``"braindecode.ATCNet"``).
        model: a LightningModule or a plain ``nn.Module``.
        make_batch: returns one batch (on the CPU; the harness moves tensors to the device).
        step: ``step(model, batch) -> loss``; default ``model.training_step(batch, 0)``.
        optimizer: ``optimizer(params) -> Optimizer``; default the module's ``configure_optimizers()``, else Adam(1e-3).
        batch_size: samples per step; default the first dimension of the first tensor in the batch.
    """

    name: str
    model: nn.Module
    make_batch: Callable[[], Any]
    step: Callable[[nn.Module, Any], torch.Tensor] | None = None
    optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None
    batch_size: int | None = None


def _first_dim(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, list | tuple):
        for v in batch:
            n = _first_dim(v)
            if n:
                return n
    return 0


def _make_optimizer(target: BenchTarget) -> torch.optim.Optimizer:
    params = [p for p in target.model.parameters() if p.requires_grad]
    if target.optimizer is not None:
        return target.optimizer(params)
    configure = getattr(target.model, "configure_optimizers", None)
    if callable(configure):
        try:
            out = configure()
        except Exception:  # a module whose configure_optimizers needs a trainer: fall back to Adam
            out = None
        while isinstance(out, list | tuple) and out:
            out = out[0]
        if isinstance(out, dict):
            out = out.get("optimizer")
        if isinstance(out, torch.optim.Optimizer):
            return out
    return torch.optim.Adam(params, lr=1e-3)


class _RSSSampler:
    """Peak resident set size while running, sampled in a daemon thread."""

    def __init__(self, interval: float = 0.005) -> None:
        import psutil

        self._proc = psutil.Process()
        self.interval = interval
        self.base = self._proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> _RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def measure(target: BenchTarget, *, steps: int = 20, warmup: int = 5, device: str | torch.device = "cpu") -> dict:
    """Time ``steps`` optimiser steps of ``target`` after ``warmup`` untimed ones.

    Returns ``{name, device, steps, warmup, batch_size, seconds, steps_per_s, samples_per_s, peak_mem_mb, mem_kind,
    n_params}``. On the CPU ``peak_mem_mb`` is the peak RSS growth during warm-up + timing (the training state this
    model needs), on CUDA the peak allocated memory.
    """
    if steps < 1:
        raise ValueError("steps must be >= 1")
    dev = torch.device(device)
    model = target.model.to(dev)
    model.train()
    step_fn = target.step or (lambda m, b: m.training_step(b, 0))
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
        base_alloc = torch.cuda.memory_allocated(dev)
    sampler = _RSSSampler() if dev.type == "cpu" else None

    def one_step(opt: torch.optim.Optimizer, batch: Any) -> None:
        opt.zero_grad(set_to_none=True)
        loss = step_fn(model, batch)
        if isinstance(loss, dict):
            loss = loss["loss"]
        loss.backward()
        opt.step()

    batches = [move_data_to_device(target.make_batch(), dev) for _ in range(min(steps, 4))]
    batch_size = target.batch_size or _first_dim(batches[0])
    with sampler if sampler is not None else nullcontext(), warnings.catch_warnings():
        # a LightningModule's self.log() outside a Trainer only warns; the benchmark does not need the logs
        warnings.filterwarnings("ignore", message=r".*self.log\(\)` but the `self.trainer` reference.*")
        opt = _make_optimizer(target)
        for i in range(warmup):
            one_step(opt, batches[i % len(batches)])
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        for i in range(steps):
            one_step(opt, batches[i % len(batches)])
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - t0
    if dev.type == "cuda":
        peak = (torch.cuda.max_memory_allocated(dev) - base_alloc) / 2**20
        kind = "cuda_max_allocated"
    else:
        assert sampler is not None
        peak = (sampler.peak - sampler.base) / 2**20
        kind = "rss_growth"
    result = {
        "name": target.name,
        "device": str(dev),
        "steps": steps,
        "warmup": warmup,
        "batch_size": batch_size,
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "samples_per_s": steps * batch_size / seconds,
        "peak_mem_mb": peak,
        "mem_kind": kind,
        "n_params": sum(p.numel() for p in model.parameters()),
    }
    del opt, batches
    model.to("cpu")
    gc.collect()
    return result


def compare(
    candidates: Sequence[BenchTarget],
    reference: BenchTarget,
    *,
    steps: int = 20,
    warmup: int = 5,
    device: str | torch.device = "cpu",
) -> list[dict]:
    """Measure ``reference`` once, then every candidate, in this process; one row per candidate.

    Each row: ``{"candidate": measure(...), "reference": measure(...), "speed_ratio", "samples_ratio",
    "memory_ratio"}`` with ratios candidate / reference (speed > 1: the candidate is faster).
    """
    if isinstance(candidates, BenchTarget):
        raise TypeError("compare() takes a list of candidate BenchTargets")
    ref = measure(reference, steps=steps, warmup=warmup, device=device)
    rows = []
    for candidate in candidates:
        cand = measure(candidate, steps=steps, warmup=warmup, device=device)
        rows.append(
            {
                "candidate": cand,
                "reference": ref,
                "speed_ratio": cand["steps_per_s"] / ref["steps_per_s"],
                "samples_ratio": cand["samples_per_s"] / ref["samples_per_s"],
                "memory_ratio": cand["peak_mem_mb"] / ref["peak_mem_mb"] if ref["peak_mem_mb"] > 0 else float("nan"),
            }
        )
    return rows


def time_fn(fn: Callable[[], Any], *, repeats: int = 10, warmup: int = 2, device: str | torch.device = "cpu") -> dict:
    """Seconds per call of ``fn()`` (median and mean over ``repeats`` timed calls after ``warmup`` untimed ones)."""
    dev = torch.device(device)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"repeats": repeats, "median_s": times[len(times) // 2], "mean_s": sum(times) / len(times)}


def bench_arg_parser(description: str) -> argparse.ArgumentParser:
    """The flags every project bench accepts: ``--device``, ``--steps``, ``--warmup``, ``--out``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--out", default=None, help="JSON output (default runs/bench/<slug>.json)")
    return p


def _environment() -> dict[str, Any]:
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def write_bench(slug: str, rows: list[dict], out: str | Path | None = None, **meta: Any) -> Path:
    """Write ``{"slug", "rows", "environment", **meta}`` to ``out`` (default ``runs/bench/<slug>.json``)."""
    path = Path(out) if out else Path("runs", "bench", f"{slug}.json")
    save_json({"slug": slug, "rows": rows, "environment": _environment(), **meta}, path)
    return path


def _flatten(row: dict, prefix: str = "") -> dict:
    flat: dict[str, Any] = {}
    for k, v in row.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(_flatten(v, key + "."))
        else:
            flat[key] = v
    return flat


_SUMMARY_KEYS = (
    "name",
    "candidate.name",
    "reference.name",
    "candidate.batch_size",
    "candidate.samples_per_s",
    "reference.samples_per_s",
    "speed_ratio",
    "memory_ratio",
)


def summarize(paths: Iterable[str | Path]) -> str:
    """One markdown section per project bench JSON (the rows flattened; comparison rows get the key columns)."""
    out = []
    for path in sorted(Path(p) for p in paths):
        data = json.loads(Path(path).read_text())
        rows = [_flatten(r) for r in data.get("rows", [])]
        if rows and all("speed_ratio" in r for r in rows):
            cols = [k for k in _SUMMARY_KEYS if any(k in r for r in rows)]
        else:
            cols = None
        env = data.get("environment", {})
        out.append(f"## {data.get('slug', path.stem)}\n\n{env.get('gpu', 'CPU')}, torch {env.get('torch', '?')}\n")
        out.append(markdown_table(rows, cols, digits=3) + "\n")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m paperkit.bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summarize", help="merge runs/bench/*.json into one JSON + a markdown table")
    s.add_argument("paths", nargs="+")
    s.add_argument("--md", default="runs/bench/summary.md")
    s.add_argument("--json", default="runs/bench/summary.json")
    a = p.parse_args(argv)
    files = [Path(x) for x in a.paths if Path(x).is_file() and Path(x).name not in {Path(a.json).name}]
    md = "# Benchmarks\n\n" + summarize(files)
    Path(a.md).parent.mkdir(parents=True, exist_ok=True)
    Path(a.md).write_text(md)
    save_json({f.stem: json.loads(f.read_text()) for f in files}, a.json)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
