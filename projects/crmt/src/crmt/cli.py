"""Command line of the CRMT project: ``crmt fit|validate|test|train`` (LightningCLI, paperkit defaults).

``crmt train`` runs both CRMT steps in one ``fit`` and then tests the *last* checkpoint (the model after step 2).
"""

from __future__ import annotations

from typing import ClassVar

from crmt.data import CRMTDataModule
from crmt.module import CRMTModule
from paperkit.cli import PaperCLI, make_main
from paperkit.report import PredictionWriter

__all__ = ["CRMTCLI", "main"]


class CRMTCLI(PaperCLI):
    slug: ClassVar[str] = "crmt"
    test_ckpt: ClassVar[str] = "last"
    links = ("n_classes", "modality_names", "in_sizes", "encoder_kinds")
    predict_input = "data.predict_file"
    predict_input_suffix = ".npz"
    extra_callbacks = (PredictionWriter,)


main = make_main(CRMTCLI, CRMTModule, CRMTDataModule)


if __name__ == "__main__":
    main()
