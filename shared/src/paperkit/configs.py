"""Where a project's ``configs/`` folder is (``paper.yaml``, ``quick.yaml``, ``ablations/*.yaml``, ``datasets/*``).

Found through the installed distribution, never through ``Path(__file__).parents[N]``:

1. ``<package>/configs`` inside the package (a wheel built with the configs included);
2. the project folder recorded by an editable install (PEP 610 ``direct_url.json``: ``uv sync`` writes it);
3. the source checkout around the imported package (``projects/<slug>/src/<slug>`` -> ``projects/<slug>/configs``).
"""

from __future__ import annotations

import json
from importlib import metadata, resources
from pathlib import Path
from urllib.parse import unquote, urlparse

from paperkit.errors import PaperkitError

__all__ = ["config_dir", "config_path"]


def _editable_root(dist: str) -> Path | None:
    try:
        text = metadata.distribution(dist).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    url = json.loads(text).get("url", "")
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def config_dir(slug: str, package: str | None = None) -> Path:
    """The ``configs/`` folder of project ``slug`` (distribution ``slug``, import package ``package or slug``)."""
    pkg = Path(str(resources.files(package or slug)))
    candidates = [pkg / "configs"]
    root = _editable_root(slug)
    if root is not None:
        candidates.append(root / "configs")
    if pkg.parent.name == "src":
        candidates.append(pkg.parent.parent / "configs")
    for c in candidates:
        if c.is_dir():
            return c
    raise PaperkitError(
        f"the configs/ folder of project '{slug}' was not found (looked in {', '.join(map(str, candidates))}). "
        "Install the workspace with `make setup` from a clone of the repository."
    )


def config_path(slug: str, name: str, package: str | None = None) -> Path:
    """``configs/<name>`` of project ``slug`` (``name`` like ``"ablations/jt.yaml"``); a missing file is an error."""
    path = config_dir(slug, package) / name
    if not path.is_file():
        shipped = sorted(p.name for p in path.parent.glob("*.yaml"))
        raise PaperkitError(
            f"config '{name}' of project '{slug}' does not exist ({path}). Shipped next to it: "
            f"{', '.join(shipped) or 'nothing'}."
        )
    return path
