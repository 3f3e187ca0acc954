"""Workspace predict contract: every project predicts on users' own files, and refuses what it cannot use.

For every Lightning project: ``predict`` without ``--ckpt_path``, with a nonexistent checkpoint, and with a trained
checkpoint but the project's input option (``PaperCLI.predict_input``) pointing at a missing file or at a file of
random bytes, each end with a one-paragraph error on stderr and exit code 2: never a traceback, never predictions
from random weights or placeholder inputs. For padf (no Lightning) the same holds for ``padf solve <problem file>``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
from workspace import LIGHTNING_PROJECTS, PLAIN_PROJECTS, trained

from paperkit.cli import PaperCLI


def cli_class(slug: str) -> type[PaperCLI]:
    mod = importlib.import_module(f"{slug}.cli")
    found = [v for v in vars(mod).values() if isinstance(v, type) and issubclass(v, PaperCLI) and v.slug == slug]
    assert len(found) == 1, f"{slug}.cli must define one PaperCLI subclass with slug = {slug!r}"
    return found[0]


def _refused(slug: str, args: list[str], cwd: Path, capsys: pytest.CaptureFixture[str]) -> str:
    main = importlib.import_module(f"{slug}.cli").main
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with pytest.raises(SystemExit) as exc:
            rc = main(args)
            raise SystemExit(rc)  # plain projects return their exit code
    finally:
        os.chdir(old)
    err = capsys.readouterr().err
    assert exc.value.code == 2, f"{slug} {args}: exit code {exc.value.code}, expected 2\n{err[-2000:]}"
    text = err.strip()
    assert "Traceback" not in err, f"{slug} {args}: a traceback instead of an error message\n{err[-3000:]}"
    assert text.splitlines()[-1:] and "error" in text.lower(), f"{slug} {args}: no error message on stderr"
    return text


def _garbage(path: Path) -> Path:
    path.write_bytes(bytes(range(256)) * 4)  # not decodable as any image, array, table, audio or JSON
    return path


@pytest.mark.parametrize("slug", LIGHTNING_PROJECTS)
def test_predict_refuses_missing_and_bad_checkpoints(slug: str, tmp_path: Path, capsys) -> None:
    cls = cli_class(slug)
    assert cls.predict_input, f"{cls.__name__}.predict_input must name the option that points predict at a file"
    err = _refused(slug, ["predict"], tmp_path, capsys)
    assert "--ckpt_path" in err
    err = _refused(slug, ["predict", f"--ckpt_path={tmp_path / 'nope.ckpt'}"], tmp_path, capsys)
    assert "nope.ckpt" in err


@pytest.mark.parametrize("slug", LIGHTNING_PROJECTS)
def test_predict_refuses_missing_and_undecodable_inputs(
    slug: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capsys
) -> None:
    cls = cli_class(slug)
    ckpt = trained(slug, tmp_path_factory).ckpt
    missing = tmp_path / f"does_not_exist{cls.predict_input_suffix}"
    base = ["predict", f"--ckpt_path={ckpt}", "--trainer.enable_progress_bar=false"]
    err = _refused(slug, [*base, f"--{cls.predict_input}={missing}"], tmp_path, capsys)
    assert missing.name in err, f"{slug}: the error does not name the missing file\n{err}"
    bad = _garbage(tmp_path / f"garbage{cls.predict_input_suffix}")
    err = _refused(slug, [*base, f"--{cls.predict_input}={bad}"], tmp_path, capsys)
    assert bad.name in err, f"{slug}: the error does not name the undecodable file\n{err}"
    assert not list(tmp_path.rglob("predictions*.csv")), f"{slug} wrote predictions for a bad input"


@pytest.mark.parametrize("slug", PLAIN_PROJECTS)
def test_plain_project_solve_refuses_missing_and_undecodable_files(slug: str, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing.yaml"
    assert missing.name in _refused(slug, ["solve", str(missing)], tmp_path, capsys)
    bad = _garbage(tmp_path / "garbage.yaml")
    assert bad.name in _refused(slug, ["solve", str(bad)], tmp_path, capsys)
