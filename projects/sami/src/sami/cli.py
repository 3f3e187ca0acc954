"""The ``sami`` console script.

* ``sami fit|validate|test|predict|train`` (LightningCLI via paperkit): ``train`` = one SAMI iteration (generate with
  the current model, fine-tune, then test: MI estimate and win rate against the base model);
* ``sami iterate [--iterations 3] [--mode restart|continue] [train options]``: the paper's loop (:mod:`sami.iterate`);
* ``sami generate --model DIR --queries FILE [--constitution FILE|TEXT] --out FILE``: responses in the official
  eval-responses format;
* ``sami write-principles --model DIR --out DIR``: a local instruct model writes principles and antitheses and the
  official constitution files (:mod:`sami.principles`).

``sami predict --ckpt_path RUN.ckpt --data.predict_file queries.json`` writes the policy's responses to
``predictions.csv`` in a new run folder.
"""

from __future__ import annotations

import sys
from typing import Any

from paperkit.cli import PaperCLI, make_main
from paperkit.errors import PaperkitError, run_script
from paperkit.report import PredictionWriter
from sami.data import SamiDataModule
from sami.module import SamiModule

__all__ = ["SamiCLI", "main"]


class SamiCLI(PaperCLI):
    slug = "sami"
    test_ckpt = "last"  # the final weights are the model (early stopping by step count, as the paper)
    links = (("data.append_eos", "model.append_eos"),)
    predict_input = "data.predict_file"
    predict_input_suffix = ".json"
    extra_callbacks = (PredictionWriter,)


_lightning_main = make_main(SamiCLI, SamiModule, SamiDataModule)


def main(args: list[str] | None = None) -> Any:
    """``sami fit|validate|test|predict|train|iterate|generate|write-principles ...``."""
    argv = list(sys.argv[1:] if args is None else args)
    if argv and argv[0] in ("iterate", "generate", "write-principles"):
        try:
            if argv[0] == "iterate":
                from sami.iterate import iterate_main

                out = iterate_main(argv[1:], _lightning_main)
            elif argv[0] == "generate":
                from sami.principles import generate_main

                out = generate_main(argv[1:])
            else:
                from sami.principles import write_principles_main

                out = write_principles_main(argv[1:])
        except PaperkitError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(err.exit_code) from None
        return out if args is not None else None
    return _lightning_main(args)


if __name__ == "__main__":
    run_script(main)
