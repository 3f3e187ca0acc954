"""PADF: a solver library and CLI for probabilistic abstract decision frameworks.

Paper: Shengxin Hong and Xiuyi Fan, "On Modeling Multi-Criteria Decision Making with Uncertain Information using
Probabilistic Rules", arXiv:2404.13419 **v1** (20 Apr 2024, cs.SC; v2 under the same id is a different paper).
Venue: arXiv preprint (no peer-reviewed venue known). The paper body could not be obtained: the semantics here are
a reconstruction from its abstract, its successor (v2) and its lineage (Fan & Toni decision frameworks, Fan's
probabilistic deduction); every semantic choice is an option (see README).

Library: ``Framework.from_yaml(path)`` / ``Framework.from_dict(d)``, ``fw.evaluate(d) -> Evaluation``,
``fw.optimal(criterion)``, ``fw.check()``, ``fw.distribution(d, which)``, ``fw.related_atoms(d)``;
``fit_problem`` learns rule probabilities from recorded cases.
"""

from typing import Any

from padf.errors import InconsistentError, PadfError, ParseError, SizeLimitError
from padf.framework import CRITERIA, Evaluation, Framework
from padf.parse import Literal, Problem, Rule, load_problem, parse_rule, problem_from_dict

__all__ = [
    "CRITERIA",
    "Evaluation",
    "Framework",
    "InconsistentError",
    "Literal",
    "PadfError",
    "ParseError",
    "Problem",
    "Rule",
    "SizeLimitError",
    "fit_problem",
    "load_problem",
    "parse_rule",
    "problem_from_dict",
]


def fit_problem(*args: Any, **kw: Any) -> Any:
    """:func:`padf.fit.fit_problem` (imported on first use: pandas and scipy.stats take seconds to import)."""
    from padf.fit import fit_problem as _fit

    return _fit(*args, **kw)
