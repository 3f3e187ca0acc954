"""The ``lio`` console script: ``lio fit|validate|test|predict|train|export`` (LightningCLI via paperkit).

``lio train`` = fit, then test the best validation checkpoint. ``lio predict --ckpt_path RUN.ckpt --data.predict_path
IMG_OR_FOLDER`` writes the top-5 classes with probabilities per image to ``predictions.csv`` in a new run folder.
``lio export --ckpt_path RUN.ckpt --out model.pt`` writes the inference model alone (backbone + GAP + Linear, no LIO
head); :func:`lio.export.load_exported` rebuilds it.
"""

from __future__ import annotations

import sys

from lio.data import LIODataModule
from lio.export import export_main
from lio.module import LIOModule
from paperkit.cli import PaperCLI, make_main
from paperkit.errors import run_script
from paperkit.report import PredictionWriter

__all__ = ["LIOCLI", "main"]


class LIOCLI(PaperCLI):
    slug = "lio"
    links = ("n_classes", "class_names", "group_size")
    predict_input = "data.predict_path"
    predict_input_suffix = ".jpg"
    extra_callbacks = (PredictionWriter,)


_cli_main = make_main(LIOCLI, LIOModule, LIODataModule)


def main(args: list[str] | None = None) -> LIOCLI | int | None:
    """``lio export ...`` is handled here; everything else goes to the LightningCLI."""
    argv = list(sys.argv[1:] if args is None else args)
    if argv[:1] == ["export"]:
        return export_main(argv[1:])
    return _cli_main(args)


if __name__ == "__main__":
    run_script(main)
