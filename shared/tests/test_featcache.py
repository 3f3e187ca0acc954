"""paperkit.featcache: content digests and the feature cache keyed by them."""

from __future__ import annotations

import torch

from paperkit.featcache import cached_tensors, digest, file_digest, folder_digest


def test_file_digest_follows_content_not_size(tmp_path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"abcd")
    first = file_digest(f)
    f.write_bytes(b"abce")  # same size, other bytes
    assert file_digest(f) != first and file_digest(tmp_path / "missing") == "missing"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    d = folder_digest(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{ }")
    assert folder_digest(tmp_path / "m") != d


def test_cached_tensors_computes_once_per_key(tmp_path) -> None:
    calls = []

    def compute():
        calls.append(1)
        return {"x": torch.arange(3.0)}

    key = {"model": "m", "data": [["1", "t", "abc"]]}
    a = cached_tensors(tmp_path, "train", key, compute)
    b = cached_tensors(tmp_path, "train", dict(reversed(list(key.items()))), compute)  # same key, other order
    assert len(calls) == 1 and torch.equal(a["x"], b["x"])
    cached_tensors(tmp_path, "train", {**key, "model": "other"}, compute)
    assert len(calls) == 2 and digest(key) != digest({**key, "model": "other"})
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
