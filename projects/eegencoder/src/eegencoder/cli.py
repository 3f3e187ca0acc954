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
    """Run the CLI (``train`` = fit + test). Returns the CLI object when called with ``args`` (tests, compare);
    None as the console script, so that ``sys.exit(main())`` exits 0 (handled by ``paperkit.cli.cli_main``)."""
    return cli_main(EEGEncoderCLI, EEGEncoderModule, EEGDataModule, args)


if __name__ == "__main__":
    main()
