"""Frozen-model features computed once and cached on disk, under a key of everything that changes them.

Projects that run a frozen encoder (a CLIP teacher, a CLIP feature extractor) over a dataset once and train on the
stored features use :func:`cached_tensors`. The key must cover the model (name *and* revision or file contents), its
preprocessing (processor / transform configuration) and the data (the bytes of every input file, not its size), so
that a changed image, model or processor never reuses stale features:

    key = {"model": name, "revision": revision_of_model, "preprocess": processor_config,
           "data": [[ex.id, ex.text, file_digest(ex.image)] for ex in examples]}
    feats = cached_tensors(cache_dir, "train", key, lambda: {"text": t, "image": i})

Files are written atomically (a temporary file renamed into place); a file whose stored key differs from the
requested one (a hash collision, or an edited file) is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["cached_tensors", "digest", "file_digest", "folder_digest"]

log = logging.getLogger(__name__)

_MEMO: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """sha1 of a file's bytes (``"missing"`` for a missing file); memoised on (path, size, mtime)."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return "missing"
    memo_key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo_key not in _MEMO:
        h = hashlib.sha1()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _MEMO[memo_key] = h.hexdigest()
    return _MEMO[memo_key]


def folder_digest(folder: str | Path, patterns: Iterable[str] = ("*",)) -> str:
    """sha1 over the relative names and contents of the files in ``folder`` matching ``patterns`` (recursively)."""
    folder = Path(folder)
    h = hashlib.sha1()
    files = sorted({p for pat in patterns for p in folder.rglob(pat) if p.is_file()})
    for p in files:
        h.update(str(p.relative_to(folder)).encode())
        h.update(file_digest(p).encode())
    return h.hexdigest()


def digest(obj: Any, length: int = 20) -> str:
    """A stable short hash of a JSON-able object (dict key order does not matter)."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:length]


def cached_tensors(
    cache_dir: str | Path,
    tag: str,
    key: Mapping[str, Any],
    compute: Callable[[], Mapping[str, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    """``<cache_dir>/<tag>-<digest(key)>.pt`` if it holds the same ``key``, else ``compute()`` saved there."""
    path = Path(cache_dir) / f"{tag}-{digest(key)}.pt"
    if path.is_file():
        blob = torch.load(path, weights_only=True)
        if blob.get("key") == json.loads(json.dumps(key, sort_keys=True, default=str)):
            log.info("Features %s loaded from cache %s", tag, path)
            return dict(blob["tensors"])
        log.warning("Cache file %s holds other settings: recomputing", path)
    tensors = dict(compute())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{tag}-", suffix=".pt", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"tensors": tensors, "key": json.loads(json.dumps(key, sort_keys=True, default=str))}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.info("Features %s cached at %s", tag, path)
    return tensors
