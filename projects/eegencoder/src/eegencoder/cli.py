"""The ``eegencoder`` console script: ``eegencoder fit|validate|test|predict|train`` (LightningCLI via paperkit).

``eegencoder train`` = fit then test on the best validation checkpoint. ``eegencoder predict --ckpt_path RUN.ckpt
--data.predict_file A01E.mat`` writes per-trial class probabilities to ``predictions.csv`` in a new run folder; it
refuses data options (sampling rate, window, standardisation) or a recording (channels, trial length) that differ
from the preprocessing stored in the checkpoint.
"""

from __future__ import annotations

import torch

from eegencoder.data import EEGDataModule, PreprocessingMismatchError, preprocessing_mismatch
from eegencoder.module import EEGEncoderModule
from paperkit.cli import PaperCLI, make_main
from paperkit.errors import PaperkitError, run_script
from paperkit.report import PredictionWriter

__all__ = ["EEGEncoderCLI", "main"]


class EEGEncoderCLI(PaperCLI):
    slug = "eegencoder"
    links = ("n_chans", "n_times", "n_classes", "class_names")
    predict_input = "data.predict_file"
    predict_input_suffix = ".mat"
    extra_callbacks = (PredictionWriter,)

    def before_predict(self) -> None:
        """Before any weight is loaded: refuse data options that differ from the checkpoint's preprocessing. (The
        model options need no check: LightningCLI replaces them by the hyperparameters saved in the checkpoint.)"""
        ckpt = self.config["predict"].get("ckpt_path")
        try:
            state = torch.load(ckpt, map_location="cpu", mmap=True, weights_only=False)
        except Exception as err:  # a corrupt or foreign file
            raise PaperkitError(f"--ckpt_path '{ckpt}' is not a readable eegencoder checkpoint ({err})") from None
        trained = (state.get(type(self.datamodule).__qualname__) or {}).get("preprocessing")
        if trained is not None:
            diff = preprocessing_mismatch(trained, self.datamodule.preprocessing())
            if diff:
                raise PreprocessingMismatchError("The data options of this command", diff, str(ckpt))


main = make_main(EEGEncoderCLI, EEGEncoderModule, EEGDataModule)


if __name__ == "__main__":
    run_script(main)
