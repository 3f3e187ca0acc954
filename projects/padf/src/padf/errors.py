"""User-facing errors of the PADF solver and their CLI exit codes (spec §7: 2 parse/schema, 3 inconsistent, 4 size).

Every error is a :class:`paperkit.errors.PaperkitError`, so the CLI prints it as one line without a traceback.
"""

from __future__ import annotations

from paperkit.errors import PaperkitError

__all__ = ["InconsistentError", "PadfError", "ParseError", "SizeLimitError"]


class PadfError(PaperkitError):
    """Base class: a problem the user can fix; ``exit_code`` is what ``padf`` returns."""

    exit_code: int = 2


class ParseError(PadfError, ValueError):
    """Malformed problem file: bad YAML/JSON, unknown key or atom, probability outside [0, 1], cycle, ..."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, rule: str | None = None):
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        elif line:
            where = f"line {line}: "
        what = f"rule '{rule}': " if rule else ""
        super().__init__(f"{where}{what}{message}")
        self.line = line
        self.rule = rule


class InconsistentError(PadfError):
    """The rules admit no probability distribution (Rule-PSAT infeasible); ``offending`` names a minimal subset."""

    exit_code = 3

    def __init__(self, message: str, offending: list[str] | None = None):
        self.offending = list(offending or [])
        if self.offending:
            message += "; offending rules: " + "; ".join(self.offending)
        super().__init__(message)


class SizeLimitError(PadfError):
    """A component has more atoms than exact world enumeration is allowed to handle (``max_atoms``)."""

    exit_code = 4
