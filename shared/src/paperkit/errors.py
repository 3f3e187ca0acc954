"""Errors that a user can act on: which file, what was expected, where to get it.

Every project raises these instead of letting a loader fail with a traceback deep inside numpy or PIL.
`paperkit.cli` catches :class:`PaperkitError` at the top level and prints the message as one paragraph.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["DataFormatError", "DataNotFoundError", "PaperkitError", "render_tree", "run_script"]

Tree = Mapping[str, "Tree | None"] | Sequence[str]


class PaperkitError(Exception):
    """Base class of the errors the CLI reports without a traceback (exit code 2)."""

    exit_code: int = 2


def render_tree(tree: Tree, root: str | Path = "<root>") -> str:
    """Render an expected directory layout as an ASCII tree.

    ``tree`` maps a file or folder name to its children (a mapping, a list of file names, or ``None`` for a file).

    >>> print(render_tree({"A01T.mat": None, "sub": ["x.npy"]}, root="data"))
    data/
    ├── A01T.mat
    └── sub/
        └── x.npy
    """
    lines = [f"{str(root).rstrip('/')}/"]
    lines.extend(_render_children(tree, ""))
    return "\n".join(lines)


def _render_children(tree: Tree | None, prefix: str) -> list[str]:
    if tree is None:
        return []
    items: list[tuple[str, Tree | None]]
    if isinstance(tree, Mapping):
        items = list(tree.items())
    else:
        items = [(name, None) for name in tree]
    out: list[str] = []
    for i, (name, child) in enumerate(items):
        last = i == len(items) - 1
        branch = "└── " if last else "├── "
        is_dir = child is not None
        out.append(f"{prefix}{branch}{name.rstrip('/')}{'/' if is_dir else ''}")
        out.extend(_render_children(child, prefix + ("    " if last else "│   ")))
    return out


class DataNotFoundError(PaperkitError, FileNotFoundError):
    """A dataset folder or file is missing.

    The message names the dataset, the folder that was searched, what is missing, the expected layout and where to
    download it, so that the user can fix the problem without reading code.
    """

    def __init__(
        self,
        dataset: str,
        root: str | Path,
        *,
        missing: Sequence[str | Path] = (),
        expected: Tree | None = None,
        source: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.dataset = dataset
        self.root = Path(root)
        self.missing = [str(m) for m in missing]
        self.expected = expected
        self.source = source
        self.hint = hint
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [f"Dataset '{self.dataset}' not found under '{self.root}'."]
        if self.missing:
            more = f" (and {len(self.missing) - 5} more)" if len(self.missing) > 5 else ""
            shown = ", ".join(self.missing[:5]) + more
            parts.append(f"Missing: {shown}.")
        if self.expected is not None:
            parts.append("Expected layout:\n" + render_tree(self.expected, root=self.root))
        if self.source:
            parts.append(f"Download it from {self.source}.")
        if self.hint:
            parts.append(self.hint)
        return " ".join(parts[:2]) + ("\n" + "\n".join(parts[2:]) if len(parts) > 2 else "")


class DataFormatError(PaperkitError, ValueError):
    """A data file exists but does not have the expected format (wrong fields, shapes, channels, ...)."""

    def __init__(self, path: str | Path, problem: str, *, expected: str | None = None, source: str | None = None):
        self.path = Path(path)
        self.problem = problem
        msg = f"Cannot read '{self.path}': {problem}."
        if expected:
            msg += f" Expected {expected}."
        if source:
            msg += f" The official files are at {source}."
        super().__init__(msg)


def run_script(main: Callable[[], object]) -> None:
    """``if __name__ == "__main__": run_script(main)``: a PaperkitError raised by a script's own code (before or
    around the CLI it drives) ends as one paragraph on stderr with its exit code, like the CLI's, never a traceback."""
    try:
        main()
    except PaperkitError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
