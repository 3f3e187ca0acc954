"""Command line: ``kamcl fit|validate|test|predict|train --config ...`` (LightningCLI via paperkit), and
``kamcl recommend --ckpt_path CKPT --k K [--users FILE] [--out CSV] [other predict options]``: the top-K items per user
(all users, or those listed in FILE), excluding every item the user interacted with in a training behaviour, written
as CSV (user, rank, item, score) to the run folder's ``predictions.csv`` (and to CSV when ``--out`` is given)."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from kamcl.data import KAMCLDataModule
from kamcl.module import KAMCLModule
from paperkit.cli import PaperCLI, make_main
from paperkit.errors import run_script
from paperkit.report import PredictionWriter

__all__ = ["KAMCLCLI", "main", "recommend_args"]

log = logging.getLogger(__name__)


class KAMCLCLI(PaperCLI):
    slug = "kamcl"
    # `torch_threads` comes from paperkit's PaperCLI; the embedded default sets 1: its graphs are tiny, and on a
    # shared 2-core machine more threads were measured ~6x slower.
    links = ("n_users", "n_items", "n_entities", "n_relations", "n_behaviours")
    predict_input = "data.predict_users"
    predict_input_suffix = ".csv"
    extra_callbacks = (PredictionWriter,)


_main = make_main(KAMCLCLI, KAMCLModule, KAMCLDataModule)


def recommend_args(argv: list[str]) -> tuple[list[str], str | None]:
    """``recommend --k K [--users FILE] [--out CSV] ...`` -> (the ``predict`` arguments, the --out path)."""
    p = argparse.ArgumentParser(prog="kamcl recommend", add_help=False)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--users", default=None)
    p.add_argument("--out", default=None)
    known, rest = p.parse_known_args(argv)
    args = ["predict", *rest, f"--data.top_k={known.k}"]
    args.append(f"--data.predict_users={known.users}" if known.users else "--data.predict_all_users=true")
    return args, known.out


def main(args: list[str] | None = None) -> KAMCLCLI | None:
    """The ``kamcl`` console script: LightningCLI subcommands, ``train`` (fit + test) and ``recommend``."""
    argv = list(sys.argv[1:] if args is None else args)
    if not argv or argv[0] != "recommend":
        return _main(args)
    predict, out = recommend_args(argv[1:])
    cli = _main(predict)
    if out:
        src = Path(cli.trainer.log_dir) / "predictions.csv"
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
        log.info("Recommendations written to %s", out)
    return cli if args is not None else None


if __name__ == "__main__":
    run_script(main)
