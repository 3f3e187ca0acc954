"""CLI (spec §7): solve/check/explain/fit/train, exit codes, one-line errors for malformed inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from padf.cli import main

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))
GOOD = """decisions: [d1, d2]
goals: {g: 1}
rules:
  - "a1 <- d1 : 0.8"
  - "a2 <- d1 : 0.3"
  - "a1 <- d2 : 0.4"
  - "a2 <- d2 : 0.9"
  - "g <- a1 : 0.7"
  - "g <- a2 : 0.65"
"""


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> str:
    f = tmp_path / name
    f.write_text(text)
    return str(f)


def test_solve_table_and_json(tmp_path, capsys):
    f = write(tmp_path, GOOD)
    assert main(["solve", f, "--exact"]) == 0
    out = capsys.readouterr().out
    assert "151/200" in out and "optimistic -> d1" in out and "laplace -> d2" in out
    assert main(["solve", f, "--format", "json", "--closed-world", "off"]) == 0
    sol = json.loads(capsys.readouterr().out)
    assert sol["optimal"] == {"optimistic": ["d1"], "pessimistic": ["d2"], "laplace": ["d1"]}
    assert sol["decisions"]["d1"]["optimistic_exact"] == "19/25"
    assert abs(sol["decisions"]["d1"]["laplace"] - 0.659127) < 1e-6


def test_solve_ria_reports_the_method(tmp_path, capsys):
    assert main(["solve", write(tmp_path, GOOD), "--independence", "ria", "--format", "json"]) == 0
    sol = json.loads(capsys.readouterr().out)
    assert not sol["approximate"] and any("tree decomposition" in n for n in sol["notes"])


def test_check_and_explain(tmp_path, capsys):
    f = write(tmp_path, GOOD)
    assert main(["check", f]) == 0
    assert "consistent" in capsys.readouterr().out
    assert main(["explain", f, "--decision", "d1", "--format", "json"]) == 0
    ex = json.loads(capsys.readouterr().out)
    comp = ex["components"][0]
    assert comp["atoms"] == ["a1", "a2", "g"]
    dist = comp["distributions"]
    assert abs(sum(p.get("maxent", 0) for p in dist.values()) - 1) < 1e-9
    assert abs(sum(p.get("max", 0) for w, p in dist.items() if w.endswith(" g") and "¬g" not in w) - 0.755) < 1e-9
    assert comp["binding"]["optimistic"]  # some rule binds the optimum
    assert main(["explain", f, "--decision", "d1"]) == 0
    assert "binding rules (laplace)" in capsys.readouterr().out


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_config_passes_check(cfg, capsys):
    assert main(["check", str(cfg)]) == 0


def test_packaged_default_passes_check():
    assert main(["check", str(ROOT / "src" / "padf" / "default.yaml")]) == 0


MALFORMED = {
    "unknown goal atom": ("decisions: [d]\ngoals: {zz: 1}\nrules: ['a <- d : 0.5']\n", 2, "goal 'zz' is an unknown"),
    "probability > 1": (
        "decisions: [d]\ngoals: {a: 1}\nrules:\n  - 'a <- d : 0.5'\n  - 'b <- a : 1.3'\n",
        2,
        ":5: rule 'b <- a : 1.3': rule 2: probability 1.3 is outside [0, 1]",
    ),
    "negative probability": (
        "decisions: [d]\ngoals: {a: 1}\nrules: [{head: a, body: [d], p: -0.1}]\n",
        2,
        "outside [0, 1]",
    ),
    "cyclic rules": (
        "decisions: [d]\ngoals: {a: 1}\nrules: ['a <- b : 0.5', 'b <- a : 0.5', 'a <- d : 0.2']\n",
        2,
        "cyclic rules: a -> b -> a",
    ),
    "contradictory rules": (
        "decisions: [d]\ngoals: {a: 1}\nrules: ['a <- d : 0.8', 'a <- d : 0.3']\n",
        3,
        "offending rules: 'a <- d : 0.8' (line 3); 'a <- d : 0.3' (line 3)",
    ),
    "empty decision set": ("decisions: []\ngoals: {a: 1}\nrules: ['a <- : 0.5']\n", 2, "decision set is empty"),
    "bad yaml": ("decisions: [d\ngoals: {a: 1}\n", 2, "invalid YAML"),
    "not a mapping": ("- a\n- b\n", 2, "top level must be a mapping"),
    "missing p": ("decisions: [d]\ngoals: {a: 1}\nrules: ['a <- d']\n", 2, "missing ': p'"),
    "bad fraction": ("decisions: [d]\ngoals: {a: 1}\nrules: ['a <- d : 1/0']\n", 2, "not a number or fraction"),
    "bad interval": ("decisions: [d]\ngoals: {a: 1}\nrules: ['a <- d : [0.9, 0.1]']\n", 2, "lo > hi"),
    "unknown key": ("decisions: [d]\ngoals: {a: 1}\nrulez: []\n", 2, "unknown key 'rulez'"),
    "decision as head": (
        "decisions: [d]\ngoals: {a: 1}\nrules: ['a <- d : 0.5', 'd <- a : 0.5']\n",
        2,
        "decision 'd' cannot head a rule",
    ),
    "body not a list": (
        "decisions: [d]\ngoals: {a: 1}\nrules: [{head: a, body: 5, p: 0.5}]\n",
        2,
        "'body' must be a list",
    ),
    "bad atom": ("decisions: [d]\ngoals: {a: 1}\nrules: ['a b <- d : 0.5']\n", 2, "not a valid atom"),
    "bad option": (
        "decisions: [d]\ngoals: {a: 1}\nobjective: best\nrules: ['a <- d : 0.5']\n",
        2,
        "'objective' must be one of",
    ),
    "size limit": (
        "decisions: [d]\ngoals: {x0: 1}\nmax_atoms: 3\nrules: ['x0 <- d : 0.5', 'x1 <- x0 : 0.5', "
        "'x2 <- x1 : 0.5', 'x3 <- x2 : 0.5']\n",
        4,
        "more than max_atoms=3",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_inputs_give_one_line_errors(case, tmp_path, capsys):
    text, code, msg = MALFORMED[case]
    f = write(tmp_path, text)
    assert main(["solve", f]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("padf: error: ") and "Traceback" not in err
    assert msg in err


def test_bad_json_and_missing_file(tmp_path, capsys):
    f = write(tmp_path, '{"decisions": ["d"], "goals": {"a": 1},\n "rules": ["a <- d : 0.5",]}', "p.json")
    assert main(["check", f]) == 2
    err = capsys.readouterr().err
    assert "invalid JSON" in err and ":2:" in err
    assert main(["check", str(tmp_path / "nope.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_json_problem_is_accepted(tmp_path, capsys):
    f = write(tmp_path, json.dumps({"decisions": ["d1", "d2"], "goals": {"g": 1}, "rules": GOOD.split("\n")[3:9]}))
    f2 = tmp_path / "p.json"
    Path(f).rename(f2)
    rules = [r.strip().strip("- ").strip('"') for r in GOOD.splitlines()[3:9]]
    f2.write_text(json.dumps({"decisions": ["d1", "d2"], "goals": {"g": 1}, "rules": rules}))
    assert main(["solve", str(f2), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["optimal"]["laplace"] == ["d2"]


def test_console_script_never_prints_a_traceback(tmp_path):
    f = write(tmp_path, MALFORMED["cyclic rules"][0])
    r = subprocess.run([sys.executable, "-m", "padf.cli", "check", f], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1


def test_fit_then_solve(tmp_path, capsys):
    structure = write(tmp_path, "decisions: [d1, d2]\ngoals: {g: 1}\nrules: ['a <- d1', 'a <- d2', 'g <- a']\n",
                      "s.yaml")  # fmt: skip
    cases = tmp_path / "cases.csv"
    cases.write_text("decision,a,g\n" + "d1,1,1\nd1,1,0\nd1,0,0\nd1,1,1\n" + "d2,0,0\nd2,1,1\nd2,0,0\nd2,0,0\n")
    out = tmp_path / "fitted.yaml"
    assert main(["fit", str(cases), "--structure", structure, "--decision-column", "decision", "-o", str(out)]) == 0
    capsys.readouterr()
    text = out.read_text()
    assert "a <- d1 : 0.75" in text and "g <- a : 0.75" in text
    assert main(["solve", str(out), "--format", "json", "--exact"]) == 0
    sol = json.loads(capsys.readouterr().out)
    assert sol["decisions"]["d1"]["optimistic_exact"] == "9/16"  # closed world: P(g) = P(a) P(g|a)
    assert main(["fit", str(cases), "--structure", structure, "--decision-column", "decision",
                 "--estimator", "clopper-pearson", "--level", "0.9"]) == 0  # fmt: skip
    assert "a <- d1 : [" in capsys.readouterr().out
    cases.write_text("decision,a\nd1,1\n")
    assert main(["fit", str(cases), "--structure", structure, "--decision-column", "decision"]) == 2
    assert "missing column(s) ['g']" in capsys.readouterr().err


def test_train_on_the_embedded_default(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    for c in ("optimistic ->", "pessimistic ->", "laplace ->"):
        assert c in out
    run = tmp_path / "runs" / "version_0"
    sol = json.loads((run / "solution.json").read_text())
    assert set(sol["optimal"]) == {"optimistic", "pessimistic", "laplace"}
    assert (run / "problem.yaml").is_file() and (run / "fit_table.json").is_file()
    # the written problem file is a complete problem that solve reads and reproduces
    assert main(["solve", str(run / "problem.yaml"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["optimal"] == sol["optimal"]


@pytest.mark.parametrize(
    "args", [["--tie-tolerance", "-5"], ["--max-atoms", "-1"], ["--alpha", "7"], ["--tie-tolerance", "nan"]]
)
def test_overrides_are_validated_like_file_keys(tmp_path, capsys, args):
    assert main(["solve", write(tmp_path, GOOD), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("padf: error: --") and "Traceback" not in err


def test_body_only_atom_is_a_warning_naming_the_rule(tmp_path, capsys):
    f = write(tmp_path, GOOD + '  - "g <- a_typo : 0.5"\n')
    assert main(["check", f]) == 0
    out = capsys.readouterr().out
    assert "atom 'a_typo' appears only in the body of rule 'g <- a_typo : 0.5' (line 10)" in out
    assert main(["solve", write(tmp_path, GOOD + "attributes: [a_free]\n"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == []


def test_hurwicz_value_in_json(tmp_path, capsys):
    args = ["solve", write(tmp_path, GOOD), "--criterion", "hurwicz", "--alpha", "0.25", "--format", "json"]
    assert main(args) == 0
    d1 = json.loads(capsys.readouterr().out)["decisions"]["d1"]
    assert d1["alpha"] == 0.25 and d1["hurwicz"] == pytest.approx(0.25 * d1["optimistic"] + 0.75 * d1["pessimistic"])


def test_closed_pipe_ends_quietly(tmp_path, monkeypatch, capsys):
    class Closed:
        def write(self, _):
            raise BrokenPipeError

        def flush(self):
            raise BrokenPipeError

        def fileno(self):
            raise OSError("no descriptor")

    f = write(tmp_path, GOOD)
    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["solve", f]) == 141
    assert capsys.readouterr().err == ""
