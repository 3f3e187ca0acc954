"""The ``eegencoder`` console script: ``eegencoder fit|validate|test|predict|train`` (LightningCLI via paperkit).

``eegencoder train`` = fit then test on the best validation checkpoint. ``eegencoder predict --ckpt_path RUN.ckpt
--data.predict_file A01E.mat`` writes per-trial class probabilities to ``predictions.csv`` in a new run folder.
"""

from __future__ import annotations

from eegencoder.data import EEGDataModule
from eegencoder.module import EEGEncoderModule
from paperkit.cli import PaperCLI, cli_main
from paperkit.report import PredictionWriter

__all__ = ["EEGEncoderCLI", "main"]


class EEGEncoderCLI(PaperCLI):
    slug = "eegencoder"
    links = ("n_chans", "n_times", "n_classes", "class_names")
    predict_input = "data.predict_file"
    predict_input_suffix = ".mat"
    extra_callbacks = (PredictionWriter,)


def main(args: list[str] | None = None) -> EEGEncoderCLI | None:
    """Run the CLI (``train`` = fit + test). Returns the CLI object when called with ``args`` (tests, compare);
    None as the console script, so that ``sys.exit(main())`` exits 0 (handled by ``paperkit.cli.cli_main``)."""
    return cli_main(EEGEncoderCLI, EEGEncoderModule, EEGDataModule, args)


if __name__ == "__main__":
    main()
