"""Re-judge saved SmolLM2 test rows: ``python -m sami.rescore RUN_OR_ROWS... [--out FILE]``.

Every argument is a run folder (its ``test_rows.json``) or a ``test_rows.json`` / ``seed*_test_rows.json`` file; the
greedy base and SAMI answers stored there are compared again by the English rule judge (``sami.english``), with the
line-based judge used before session 27 beside it (which reproduces the win rates those runs logged). A rule judge is
symmetric, so the A/B order does not matter: SAMI's answer wins 1, ties 0.5, loses 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from paperkit.errors import run_script
from sami.english import english_score, english_score_lines
from sami.formats import load_test_rows
from sami.judges import RuleJudge

__all__ = ["main", "rescore_rows"]


def rescore_rows(rows: list[dict]) -> dict[str, float]:
    """Win rates of SAMI vs base under the content judge and the line judge, and the mean content scores."""
    content, lines = RuleJudge(lambda c, r: english_score(r)), RuleJudge(lambda c, r: english_score_lines(r))
    return {  # compare(c, q, a, b): 1 when a (SAMI's answer) scores higher, 0.5 on a tie
        "win_rate_content_judge": statistics.mean(content.compare("", "", r["sami"], r["base"]) for r in rows),
        "win_rate_line_judge": statistics.mean(lines.compare("", "", r["sami"], r["base"]) for r in rows),
        "score_base": statistics.mean(english_score(r["base"]) for r in rows),
        "score_sami": statistics.mean(english_score(r["sami"]) for r in rows),
        "n": len(rows),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m sami.rescore", description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="+")
    p.add_argument("--out", default=None, help="JSON file for the results")
    opts = p.parse_args(argv)
    out = {}
    for arg in opts.paths:
        path = Path(arg)
        f = path / "test_rows.json" if path.is_dir() else path
        out[str(f)] = res = rescore_rows(load_test_rows(f))
        print(f"{f}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in res.items()))
    if opts.out:
        Path(opts.out).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    run_script(main)
