"""Problem files: the spec's YAML/JSON schema (§7) with rule strings, fractions, intervals and the tabular form (§4).

A problem is ``⟨𝓛, 𝓡, D, G⟩``: decisions ``D`` (mutually exclusive), goal literals with weights, probabilistic rules
``head <- b1, not b2 : p`` meaning ``P(head | body) = p`` (``p`` exact, a fraction, or an interval ``[lo, hi]``).
The tabular form ``⟨D, A, G, T_DA, T_GA⟩`` compiles ``T_DA[d][a] > 0`` to ``a <- d`` and ``T_GA[g][a] > 0`` to
``g <- a`` (§4 "Input forms"). Every error names the file, the line, the rule and what is wrong.
"""

from __future__ import annotations

import graphlib
import json
from dataclasses import dataclass, field, replace
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from padf.errors import ParseError
from padf.rules import _ATOM, Literal, Rule, format_fraction, parse_literal, parse_probability, parse_rule
from padf.rules import to_fraction as _to_fraction

__all__ = [
    "OBJECTIVES",
    "Literal",
    "Problem",
    "Rule",
    "format_fraction",
    "load_problem",
    "parse_literal",
    "parse_probability",
    "parse_rule",
    "problem_from_dict",
    "problem_to_dict",
]

OBJECTIVES = ("weighted", "all", "any", "count")
INDEPENDENCE = ("components", "none", "ria")
LAPLACE = ("maxent", "midpoint")
DECISION_SEMANTICS = ("per_decision", "global")
ESTIMATORS = ("point", "wilson", "clopper-pearson")
TOP_KEYS = {
    "name", "description", "decisions", "goals", "objective", "closed_world", "independence", "laplace",
    "tie_tolerance", "max_atoms", "exact_max_atoms", "allow_cycles", "rules", "attributes", "T_DA", "T_GA",
    "fit", "base", "decision_semantics",
}  # fmt: skip
FIT_KEYS = {"cases", "estimator", "level", "decision_column", "min_support"}


@dataclass(frozen=True)
class Problem:
    """A parsed decision problem; every semantic choice of spec §5 is a field (defaults first in the spec)."""

    decisions: tuple[str, ...]
    goals: dict[Literal, Fraction]
    rules: tuple[Rule, ...]
    name: str = "padf"
    objective: str = "weighted"
    closed_world: bool = True
    independence: str = "components"
    laplace: str = "maxent"
    decision_semantics: str = "per_decision"
    tie_tolerance: float = 1e-9
    max_atoms: int = 20
    exact_max_atoms: int = 12
    allow_cycles: bool = False
    attributes: tuple[str, ...] = ()
    fit: dict[str, Any] | None = None
    source: str | None = None
    description: str = ""
    base_dir: str | None = field(default=None, compare=False)

    @property
    def atoms(self) -> tuple[str, ...]:
        out = set(self.decisions) | set(self.attributes) | {g.atom for g in self.goals}
        for r in self.rules:
            out |= r.atoms
        return tuple(sorted(out))

    def with_(self, **kw: Any) -> Problem:
        return replace(self, **kw)


# ----------------------------------------------------------------------------------------------------------- files
def _node_lines(text: str) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Line numbers (1-based) of the top-level keys and of the items of each top-level list (rules)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return {}, {}
    keys: dict[str, int] = {}
    items: dict[str, list[int]] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            keys[str(k.value)] = k.start_mark.line + 1
            if isinstance(v, yaml.SequenceNode):
                items[str(k.value)] = [x.start_mark.line + 1 for x in v.value]
    return keys, items


def _read_raw(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load a file (resolving ``base:`` chains). Returns (data, meta) with meta = key/rule line numbers per key."""
    if path in seen:
        raise ParseError(f"'base' chain loops back to {path}", path=str(seen[0]))
    if not path.is_file():
        raise ParseError("file not found", path=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ParseError(
            f"not a UTF-8 text file (byte {e.start}): expected a YAML or JSON problem", path=str(path)
        ) from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as e:
        raise ParseError(f"invalid JSON: {e.msg} (column {e.colno})", path=str(path), line=e.lineno) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        raise ParseError(f"invalid YAML: {problem}", path=str(path), line=line) from None
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ParseError(f"the top level must be a mapping of keys (decisions, goals, rules, ...), got {kind}",
                         path=str(path))  # fmt: skip
    keys, items = _node_lines(text)
    meta = {k: {"path": str(path), "line": keys.get(k), "items": items.get(k)} for k in data}
    fit = data.get("fit")
    if isinstance(fit, dict) and isinstance(fit.get("cases"), str) and not Path(fit["cases"]).is_absolute():
        data["fit"] = {**fit, "cases": str((path.parent / fit["cases"]).resolve())}  # relative to this file
    base = data.pop("base", None)
    if base is None:
        return data, meta
    if base == "default":
        base_path = Path(str(resources.files("padf") / "default.yaml"))
    else:
        base_path = (path.parent / str(base)).resolve()
    bdata, bmeta = _read_raw(base_path, (*seen, path))
    if isinstance(bdata.get("fit"), dict) and isinstance(data.get("fit"), dict):
        data["fit"] = {**bdata["fit"], **data["fit"]}  # 'fit' is merged key by key, everything else replaced
    bdata.update(data)
    bmeta.update({k: v for k, v in meta.items() if k != "base"})
    return bdata, bmeta


def load_problem(path: str | Path, structure: bool = False) -> Problem:
    """Read a YAML (``.yaml``/``.yml``) or JSON (``.json``) problem file, resolving ``base:``.

    ``structure=True`` (or a ``fit`` section) lets rules omit ``p``: their probabilities are fitted from cases."""
    path = Path(path)
    data, meta = _read_raw(path.resolve() if path.exists() else path)
    fit = data.get("fit")
    prob = problem_from_dict(data, source=str(path), meta=meta, allow_missing_p=bool(fit) or structure)
    fit_meta = meta.get("fit")
    return prob.with_(base_dir=str(Path(fit_meta["path"]).parent) if fit_meta else str(path.parent))


def _err(msg: str, meta: dict[str, Any] | None, key: str, item: int | None = None, rule: str | None = None):
    m = (meta or {}).get(key) or {}
    line = m.get("line")
    if item is not None and m.get("items") and item < len(m["items"]):
        line = m["items"][item]
    return ParseError(msg, path=m.get("path"), line=line, rule=rule)


def _atom_list(v: Any, key: str, meta: dict | None) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list):
        raise _err(f"'{key}' must be a list of atom names", meta, key)
    out: list[str] = []
    for i, x in enumerate(v):
        if not isinstance(x, str) or not _ATOM.match(x):
            raise _err(f"'{key}' entry {x!r} is not a valid atom name", meta, key, i)
        if x in out:
            raise _err(f"'{key}' lists '{x}' twice", meta, key, i)
        out.append(x)
    return tuple(out)


def problem_from_dict(
    data: dict[str, Any], *, source: str | None = None, meta: dict | None = None, allow_missing_p: bool = False
) -> Problem:
    """Validate a problem mapping (the YAML/JSON schema) and build a :class:`Problem`."""
    data = dict(data)
    data.pop("base", None)
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise _err(f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(TOP_KEYS))})", meta, unknown[0])
    if "decisions" not in data:
        raise ParseError("missing 'decisions' (a non-empty list of mutually exclusive decisions)", path=source)
    decisions = _atom_list(data["decisions"], "decisions", meta)
    if not decisions:
        raise _err("the decision set is empty: list at least one decision", meta, "decisions")
    attributes = _atom_list(data.get("attributes") or [], "attributes", meta)
    goals_raw = data.get("goals")
    if not goals_raw:
        raise _err("missing or empty 'goals' (a map goal -> weight, or a list of goals)", meta, "goals")
    if isinstance(goals_raw, str | list):
        goals_raw = dict.fromkeys([goals_raw] if isinstance(goals_raw, str) else goals_raw, 1)
    if not isinstance(goals_raw, dict):
        raise _err("'goals' must be a map goal -> weight or a list of goals", meta, "goals")
    goals: dict[Literal, Fraction] = {}
    for g, w in goals_raw.items():
        try:
            lit = parse_literal(str(g))
            weight = _to_fraction(1 if w is None else w, f"weight of goal '{g}'")
        except ValueError as e:
            raise _err(str(e), meta, "goals") from None
        if lit.atom in decisions:
            raise _err(f"goal '{g}' is a decision; goals are outcomes the decisions aim at", meta, "goals")
        goals[lit] = weight
    opts: dict[str, Any] = {}
    for key, allowed in (("objective", OBJECTIVES), ("independence", INDEPENDENCE), ("laplace", LAPLACE),
                         ("decision_semantics", DECISION_SEMANTICS)):  # fmt: skip
        if key in data:
            if data[key] not in allowed:
                raise _err(f"'{key}' must be one of {', '.join(allowed)}, got {data[key]!r}", meta, key)
            opts[key] = data[key]
    for key in ("closed_world", "allow_cycles"):
        if key in data:
            if not isinstance(data[key], bool):
                raise _err(f"'{key}' must be true or false, got {data[key]!r}", meta, key)
            opts[key] = data[key]
    for key in ("max_atoms", "exact_max_atoms"):
        if key in data:
            if not isinstance(data[key], int) or isinstance(data[key], bool) or data[key] < 1:
                raise _err(f"'{key}' must be a positive integer, got {data[key]!r}", meta, key)
            opts[key] = data[key]
    if "tie_tolerance" in data:
        t = data["tie_tolerance"]
        if not isinstance(t, int | float) or isinstance(t, bool) or not 0 <= t < 1:
            raise _err(f"'tie_tolerance' must be a number in [0, 1), got {t!r}", meta, "tie_tolerance")
        opts["tie_tolerance"] = float(t)
    fit = data.get("fit")
    if fit is not None:
        if not isinstance(fit, dict):
            raise _err("'fit' must be a mapping {cases, estimator, level, decision_column}", meta, "fit")
        bad = sorted(set(fit) - FIT_KEYS)
        if bad:
            raise _err(f"unknown 'fit' key '{bad[0]}' (allowed: {', '.join(sorted(FIT_KEYS))})", meta, "fit")
        if fit.get("estimator", "point") not in ESTIMATORS:
            raise _err(f"'fit.estimator' must be one of {', '.join(ESTIMATORS)}", meta, "fit")
        level = fit.get("level", 0.95)
        if not isinstance(level, int | float) or not 0 < level < 1:
            raise _err(f"'fit.level' must be in (0, 1), got {level!r}", meta, "fit")
    rules: list[Rule] = []
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        raise _err("'rules' must be a list", meta, "rules")
    for i, item in enumerate(raw_rules):
        m = (meta or {}).get("rules") or {}
        line = m["items"][i] if m.get("items") and i < len(m["items"]) else None
        if allow_missing_p and isinstance(item, str) and ":" not in item.replace(":-", ""):
            item = item + " : 0"  # structure only: 'fit' estimates p later
        elif allow_missing_p and isinstance(item, dict) and "head" in item and "p" not in item:
            item = {**item, "p": 0}
        try:
            rules.append(parse_rule(item, index=i, line=line))
        except ValueError as e:
            raise _err(f"rule {i + 1}: {e}", meta, "rules", i, rule=_rule_text(item)) from None
    rules.extend(_compile_tables(data, decisions, attributes, list(goals), meta, start=len(rules)))
    prob = Problem(
        decisions=decisions, goals=goals, rules=tuple(rules), name=str(data.get("name", "padf")),
        attributes=attributes, fit=fit, source=source, description=str(data.get("description", "")), **opts,
    )  # fmt: skip
    _validate(prob, meta, raw_count=len(raw_rules))
    return prob


def _rule_text(item: Any) -> str:
    if isinstance(item, dict) and len(item) == 1:
        ((k, v),) = item.items()
        return f"{k} : {v}"
    return str(item).strip()


def _compile_tables(data: dict, decisions, attributes, goals: list[Literal], meta, start: int) -> list[Rule]:
    """Tabular form (§4): T_DA[d][a] = P(a | d) -> 'a <- d'; T_GA[g][a] = P(g | a) -> 'g <- a' (entries > 0)."""
    out: list[Rule] = []
    for key, rows_names, heads_are_rows in (("T_DA", decisions, False), ("T_GA", [g.atom for g in goals], True)):
        table = data.get(key)
        if table is None:
            continue
        if not attributes:
            raise _err(f"'{key}' needs 'attributes' (the column atoms)", meta, key)
        if isinstance(table, list):
            if len(table) != len(rows_names) or any(
                not isinstance(r, list) or len(r) != len(attributes) for r in table
            ):
                raise _err(f"'{key}' as a matrix must be {len(rows_names)} x {len(attributes)}", meta, key)
            table = {r: dict(zip(attributes, row)) for r, row in zip(rows_names, table)}
        if not isinstance(table, dict):
            raise _err(f"'{key}' must be a map row -> {{attribute: p}} or a matrix", meta, key)
        for r, row in table.items():
            if r not in rows_names:
                raise _err(f"'{key}' row '{r}' is not one of {list(rows_names)}", meta, key)
            if not isinstance(row, dict):
                raise _err(f"'{key}' row '{r}' must map attributes to probabilities", meta, key)
            for a, p in row.items():
                if a not in attributes:
                    raise _err(f"'{key}' column '{a}' is not one of the attributes {list(attributes)}", meta, key)
                try:
                    lo, hi = parse_probability(p)
                except ValueError as e:
                    raise _err(f"{key}[{r}][{a}]: {e}", meta, key) from None
                if hi == 0:
                    continue
                head, body = (Literal(r), Literal(a)) if heads_are_rows else (Literal(a), Literal(r))
                out.append(
                    Rule(head, (body,), lo, hi, line=(meta or {}).get(key, {}).get("line"), index=start + len(out))
                )
    return out


def _validate(prob: Problem, meta: dict | None, raw_count: int) -> None:
    dec = set(prob.decisions)
    rule_atoms: set[str] = set()
    for r in prob.rules:
        rule_atoms |= r.atoms
        key = "rules" if r.index < raw_count else ("T_DA" if r.body and r.body[0].atom in dec else "T_GA")
        if r.head.atom in dec:
            raise _err(f"decision '{r.head.atom}' cannot head a rule (decisions are chosen, not caused)", meta, key,
                       r.index if key == "rules" else None, rule=str(r))  # fmt: skip
    known = rule_atoms | set(prob.attributes)
    for g in prob.goals:
        if g.atom not in known:
            raise _err(f"goal '{g.atom}' is an unknown atom: no rule mentions it", meta, "goals")
    if not prob.allow_cycles:
        cyc = find_cycle(prob.rules)
        if cyc is not None:
            atoms, rule = cyc
            raise _err(f"cyclic rules: {' -> '.join(atoms)} (set allow_cycles: true to accept cycles)", meta, "rules",
                       rule.index if rule.index < raw_count else None, rule=str(rule))  # fmt: skip


def find_cycle(rules: tuple[Rule, ...] | list[Rule]) -> tuple[list[str], Rule] | None:
    """A directed cycle body atom -> head atom, as (atoms along it, from its smallest atom; one rule on it), or None."""
    preds: dict[str, set[str]] = {}
    on: dict[tuple[str, str], Rule] = {}
    for r in rules:
        preds.setdefault(r.head.atom, set())
        for b in r.body:
            preds[r.head.atom].add(b.atom)
            on.setdefault((b.atom, r.head.atom), r)
    try:
        graphlib.TopologicalSorter({h: sorted(ps) for h, ps in sorted(preds.items())}).prepare()
    except graphlib.CycleError as e:
        nodes = list(e.args[1][:-1])  # each node precedes (is a body atom of a rule heading) the next one
        k = nodes.index(min(nodes))
        cyc = [*nodes[k:], *nodes[:k]]
        return [*cyc, cyc[0]], on[(cyc[0], cyc[1 % len(cyc)])]
    return None


def problem_to_dict(prob: Problem) -> dict[str, Any]:
    """The inverse of :func:`problem_from_dict` (rules as strings; exact probabilities kept as fractions/decimals)."""
    out: dict[str, Any] = {"name": prob.name}
    if prob.description:
        out["description"] = prob.description
    out["decisions"] = list(prob.decisions)
    out["goals"] = {str(g): _num(w) for g, w in prob.goals.items()}
    keys = ("objective", "closed_world", "independence", "laplace", "decision_semantics", "tie_tolerance",
            "max_atoms", "exact_max_atoms", "allow_cycles")  # fmt: skip
    for key in keys:
        out[key] = getattr(prob, key)
    if prob.attributes:
        out["attributes"] = list(prob.attributes)
    out["rules"] = [str(r) for r in prob.rules]
    return out


def _num(x: Fraction) -> int | float | str:
    s = format_fraction(x)
    return s if "/" in s else (int(s) if "." not in s else float(s))
