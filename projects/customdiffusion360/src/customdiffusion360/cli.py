"""The ``customdiffusion360`` console script (LightningCLI via paperkit) and ``customdiffusion360 sample``.

* ``customdiffusion360 train`` = fit + test (the held-out poses); ``fit --ckpt_path last`` resumes exactly;
* ``customdiffusion360 predict --ckpt_path RUN.ckpt --data.predict_file targets.json``: images at a user's target
  cameras (``predictions/*.png`` + ``predictions.csv`` in a new run folder);
* ``customdiffusion360 sample --delta runs/.../delta.safetensors --prompt "photo of a <new1> cube" --azimuths 0 90``:
  the trained delta loaded onto its base (no Lightning checkpoint needed), images over azimuth.
"""

from __future__ import annotations

import sys

from customdiffusion360.data import CD360DataModule
from customdiffusion360.module import CD360Module
from paperkit.cli import PaperCLI, make_main
from paperkit.errors import run_script
from paperkit.report import PredictionWriter

__all__ = ["CD360CLI", "main"]


class CD360CLI(PaperCLI):
    slug = "customdiffusion360"
    test_ckpt = "last"  # a fixed number of customisation steps, as the paper (no checkpoint selection)
    parse_links = (("data.image_size", "model.image_size"), ("data.token", "model.token"))
    predict_input = "data.predict_file"
    predict_input_suffix = ".json"
    extra_callbacks = (PredictionWriter,)


_lightning_main = make_main(CD360CLI, CD360Module, CD360DataModule)


def main(args: list[str] | None = None) -> CD360CLI | None:
    """Run the CLI (``train`` = fit + test); ``sample`` is handled by :mod:`customdiffusion360.sample`."""
    argv = list(sys.argv[1:] if args is None else args)
    if argv and argv[0] == "sample":
        from customdiffusion360.sample import main as sample_main

        rc = sample_main(argv[1:])
        if args is None:
            raise SystemExit(rc)
        return None
    return _lightning_main(args)


if __name__ == "__main__":
    run_script(main)
