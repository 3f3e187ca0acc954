"""The ``diffst`` console script: ``diffst fit|validate|test|predict|train ...`` (LightningCLI via paperkit) and
``diffst prepare xenium|visium ...`` (raw 10x outputs -> the official per-patch layout).

``diffst train`` = fit then test on the last checkpoint (a diffusion model is reported at the end of training).
``diffst predict --ckpt_path RUN.ckpt --data.predict_path <prepared sample folder or spot_ST.npy>`` writes
``predictions.csv``, ``super_resolved.npy`` and ``super_resolved.h5ad`` (open it with scanpy / squidpy).
"""

from __future__ import annotations

import sys

from diffst.data import DiffSTDataModule
from diffst.module import DiffSTModule
from paperkit.cli import PaperCLI, make_main
from paperkit.errors import run_script
from paperkit.report import PredictionWriter

__all__ = ["DiffSTCLI", "main"]


class DiffSTCLI(PaperCLI):
    slug = "diffst"
    test_ckpt = "last"
    parse_links = (
        ("data.genes", "model.genes"),
        ("data.lr_size", "model.lr_size"),
        ("data.hr_size", "model.hr_size"),
        ("data.tile_size", "model.tile_size"),
        ("data.n_tiles", "model.n_tiles"),
    )
    predict_input = "data.predict_path"
    predict_input_suffix = ".npy"
    extra_callbacks = (PredictionWriter,)


_lightning_main = make_main(DiffSTCLI, DiffSTModule, DiffSTDataModule)


def main(args: list[str] | None = None) -> DiffSTCLI | None:
    """``diffst prepare ...`` runs the preparation tools; everything else is the Lightning CLI."""
    argv = list(sys.argv[1:] if args is None else args)
    if argv and argv[0] == "prepare":
        from diffst.prepare import main as prepare_main

        prepare_main(argv[1:])
        return None
    return _lightning_main(args)


if __name__ == "__main__":
    run_script(main)
