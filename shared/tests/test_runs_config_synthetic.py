"""paperkit.runs, paperkit.config and paperkit.synthetic."""

from __future__ import annotations

import dataclasses
import os
import threading

import pytest

from paperkit.config import config_fields, config_from
from paperkit.runs import latest_run, new_run_dir, versions
from paperkit.synthetic import cached_dir, settings_key


def test_versions_ignore_other_names_and_sort_numerically(tmp_path) -> None:
    for name in ("version_10", "version_2", "version_x", "other"):
        (tmp_path / "p" / name).mkdir(parents=True)
    assert [n for n, _ in versions(tmp_path, "p")] == [2, 10]
    assert latest_run(tmp_path, "p").name == "version_10"


def test_new_run_dir_takes_the_next_free_number_even_when_racing(tmp_path) -> None:
    assert new_run_dir(tmp_path, "s").name == "version_0"
    assert new_run_dir(tmp_path, "s").name == "version_1"
    made: list[str] = []
    threads = [threading.Thread(target=lambda: made.append(new_run_dir(tmp_path, "s").name)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8  # no two callers got the same folder


@dataclasses.dataclass
class _Inner:
    width: int = 4
    depth: int = 1


@dataclasses.dataclass
class _Cfg:
    n_classes: int = 2
    dropout: float = 0.1
    inner: _Inner = dataclasses.field(default_factory=_Inner)
    derived: bool = False


def test_config_from_takes_fields_by_name_recursively() -> None:
    hp = {"dropout": 0.5, "width": 9, "n_classes": 7, "unrelated": 1}
    cfg = config_from(_Cfg, hp, derived=True)
    assert cfg == _Cfg(n_classes=7, dropout=0.5, inner=_Inner(width=9, depth=1), derived=True)
    assert config_fields(cfg) == {"n_classes": 7, "dropout": 0.5, "inner.width": 9, "inner.depth": 1, "derived": True}
    with pytest.raises(TypeError, match="no field"):
        config_from(_Cfg, hp, nope=1)


def test_cached_dir_writes_once_atomically_and_keys_by_settings(tmp_path) -> None:
    calls = []

    def write(folder):
        calls.append(folder)
        (folder / "x.txt").write_text("data")

    a = cached_dir(tmp_path, "syn", {"n": 3, "seed": 0}, write)
    b = cached_dir(tmp_path, "syn", {"seed": 0, "n": 3}, write)  # same settings, other order
    c = cached_dir(tmp_path, "syn", {"n": 4, "seed": 0}, write)
    assert a == b != c and len(calls) == 2
    assert a.name == f"syn-{settings_key({'n': 3, 'seed': 0})}" and (a / "x.txt").read_text() == "data"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folder left behind


def test_cached_dir_leaves_nothing_when_the_writer_fails(tmp_path) -> None:
    def broken(folder):
        (folder / "half.txt").write_text("x")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cached_dir(tmp_path, "syn", {"n": 1}, broken)
    assert os.listdir(tmp_path) == []
    d = cached_dir(tmp_path, "syn", {"n": 1}, lambda f: (f / "ok.txt").write_text("y"))
    assert sorted(p.name for p in d.iterdir()) == ["ok.txt", "settings.json"]
