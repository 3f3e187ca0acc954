"""The ``dmdetect`` console script: ``dmdetect fit|validate|test|predict|train`` (LightningCLI via paperkit) and
``dmdetect download-reals`` (the ELSA D3 real images from their LAION URLs, see :mod:`dmdetect.download`).

``dmdetect train`` = fit then test on the best validation-AUC checkpoint. ``dmdetect predict --config RUN/config.yaml
--ckpt_path RUN/checkpoints/last.ckpt --data.predict_path IMAGES/ [--data.predict_prompt "a photo of ..."]`` writes
the probability that each image is generated to ``predictions.csv`` in a new run folder.
"""

from __future__ import annotations

import sys

from dmdetect.data import DMDetectDataModule
from dmdetect.module import DMDetectModule
from paperkit.cli import PaperCLI, make_main
from paperkit.errors import PaperkitError, run_script
from paperkit.report import PredictionWriter

__all__ = ["DMDetectCLI", "main"]


class DMDetectCLI(PaperCLI):
    slug = "dmdetect"
    links = ("image_dim", "text_dim")
    predict_input = "data.predict_path"
    predict_input_suffix = ".png"
    extra_callbacks = (PredictionWriter,)


_lightning_main = make_main(DMDetectCLI, DMDetectModule, DMDetectDataModule)


def main(args: list[str] | None = None) -> DMDetectCLI | None:
    """``dmdetect download-reals ...`` or the Lightning CLI (``fit``/``validate``/``test``/``predict``/``train``)."""
    argv = list(sys.argv[1:] if args is None else args)
    if argv and argv[0] == "download-reals":
        from dmdetect.download import main as download_main

        try:
            download_main(argv[1:])
        except PaperkitError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(err.exit_code) from None
        return None
    return _lightning_main(args)


if __name__ == "__main__":
    run_script(main)
