"""The SAMI iteration loop (paper Sec. 3, "Iterations"): generate with the latest model, train, evaluate; repeated.

``restart`` (the official setting): every iteration fine-tunes the *base* model on data written by the previous
iteration's model, for longer each time (``--steps_per_iteration S`` trains iteration k for k * S steps, as the
official checkpoints 0.12 -> 0.25 -> 0.38 epoch). ``continue``: every iteration fine-tunes the previous one's model.
Every iteration is a ``sami train`` run in its own run folder (``train_data.json``, checkpoints, ``hf_model/``,
``test_metrics.json``); the loop writes ``iterations.json`` and a figure of the MI estimate and the win rate per
iteration (iteration 0 = the base model) to ``runs/sami_iterate/version_N/``.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paperkit.report import save_json, save_line_plot
from paperkit.runs import new_run_dir

__all__ = ["iterate_main"]

log = logging.getLogger(__name__)


def _value(args: list[str], key: str) -> str | None:
    """The last ``--key=value`` / ``--key value`` in args."""
    found = None
    for k, a in enumerate(args):
        if a == key and k + 1 < len(args):
            found = args[k + 1]
        elif a.startswith(key + "="):
            found = a.split("=", 1)[1]
    return found


def iterate_main(argv: list[str], main: Callable[[list[str]], Any]) -> dict:
    p = argparse.ArgumentParser(prog="sami iterate", description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--mode", choices=["restart", "continue"], default="restart")
    p.add_argument("--steps_per_iteration", type=int, default=None,
                   help="iteration k trains k*S steps (restart) or S (continue); default: the config's")  # fmt: skip
    p.add_argument("--out", default=None, help="summary folder (default runs/sami_iterate/version_N)")
    opts, rest = p.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    base = _value(rest, "--model.name_or_path")
    base_gguf = _value(rest, "--model.gguf_file")
    out = Path(opts.out) if opts.out else new_run_dir("runs", "sami_iterate")
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    prev: str | None = None
    for k in range(1, opts.iterations + 1):
        args = ["train", *rest]
        if prev is not None:
            args += [f"--data.generator_path={prev}"]
            if opts.mode == "continue":
                args += [f"--model.name_or_path={prev}", "--model.gguf_file=null"]
                if base and base != "toy":
                    args += [f"--model.reference_path={base}"]
                    if base_gguf:
                        args += [f"--model.reference_gguf_file={base_gguf}"]
                elif not base or base == "toy":
                    from sami.toy import ToySettings, build_toy_base

                    args += [f"--model.reference_path={build_toy_base(ToySettings())}"]
        if opts.steps_per_iteration:
            steps = opts.steps_per_iteration * (k if opts.mode == "restart" else 1)
            args += [f"--trainer.max_steps={steps}", "--trainer.max_epochs=-1"]
        log.info("sami iterate: iteration %d/%d (%s)", k, opts.iterations, opts.mode)
        cli = main(args)
        folder = Path(cli.trainer.log_dir)
        metrics = json.loads((folder / "test_metrics.json").read_text())
        prev = str(folder / "hf_model")
        rows.append({"iteration": k, "run_dir": str(folder), "args": args, **metrics})
        save_json({"mode": opts.mode, "iterations": rows}, out / "iterations.json")
    its = [0] + [r["iteration"] for r in rows]
    mi = [rows[0].get("test/mi_base", float("nan"))] + [r.get("test/mi", float("nan")) for r in rows]
    win = [0.5] + [r.get("test/win_rate", float("nan")) for r in rows]
    save_line_plot(its, {"conditional MI (nats)": mi, "win rate vs base": win}, out / "iterations.png",
                   xlabel="iteration (0 = base model)", ylabel="value", title=f"SAMI ({opts.mode})")  # fmt: skip
    log.info("iterations written to %s", out)
    return {"out": str(out), "iterations": rows}
