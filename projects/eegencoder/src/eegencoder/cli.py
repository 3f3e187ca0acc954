"""The ``eegencoder`` console script: ``eegencoder fit|validate|test|predict|train`` (LightningCLI via paperkit).

``eegencoder train`` = fit then test on the best validation checkpoint. ``eegencoder predict --ckpt_path RUN.ckpt
--data.predict_file A01E.mat`` writes per-trial class probabilities to ``predictions.csv`` in a new run folder.
"""

from __future__ import annotations

from pytorch_lightning.cli import LightningArgumentParser

from eegencoder.callbacks import ProbabilityWriter
from eegencoder.data import EEGDataModule
from eegencoder.module import EEGEncoderModule
from paperkit.cli import PaperCLI, cli_main

__all__ = ["EEGEncoderCLI", "main"]


class EEGEncoderCLI(PaperCLI):
    slug = "eegencoder"

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        for size in ("n_chans", "n_times", "n_classes", "class_names"):
            parser.link_arguments(f"data.{size}", f"model.{size}", apply_on="instantiate")
        parser.add_lightning_class_args(ProbabilityWriter, "prediction_writer")


def main(args: list[str] | None = None) -> EEGEncoderCLI | None:
    """Run the CLI; returns the CLI object when called from Python with ``args`` (tests, compare).

    As the console script (``args is None``) it returns None: ``sys.exit(main())`` would otherwise print the object
    and exit with status 1.
    """
    cli = cli_main(EEGEncoderCLI, EEGEncoderModule, EEGDataModule, args)
    return cli if args is not None else None


if __name__ == "__main__":
    main()
