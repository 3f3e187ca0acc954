"""The ``eegencoder`` console script: ``eegencoder fit|validate|test|predict|train`` (LightningCLI via paperkit).

``eegencoder train`` = fit then test on the best validation checkpoint. ``eegencoder predict --ckpt_path RUN.ckpt
--data.predict_file A01E.mat`` writes per-trial class probabilities to ``predictions.csv`` in a new run folder.
"""

from __future__ import annotations

from eegencoder.data import EEGDataModule
from eegencoder.module import EEGEncoderModule
from paperkit.cli import PaperCLI, make_main
from paperkit.report import PredictionWriter

__all__ = ["EEGEncoderCLI", "main"]


class EEGEncoderCLI(PaperCLI):
    slug = "eegencoder"
    links = ("n_chans", "n_times", "n_classes", "class_names")
    predict_input = "data.predict_file"
    predict_input_suffix = ".mat"
    extra_callbacks = (PredictionWriter,)


main = make_main(EEGEncoderCLI, EEGEncoderModule, EEGDataModule)


if __name__ == "__main__":
    main()
