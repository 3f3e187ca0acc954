"""Command line of the CRMT project: ``crmt fit|validate|test|train`` (LightningCLI, paperkit defaults).

``crmt train`` runs both CRMT steps in one ``fit`` and then tests the *last* checkpoint (the model after step 2).
"""

from __future__ import annotations

from typing import ClassVar

from crmt.data import CRMTDataModule
from crmt.module import CRMTModule
from paperkit.cli import PaperCLI, cli_main
from paperkit.report import PredictionWriter

__all__ = ["CRMTCLI", "main"]


class CRMTCLI(PaperCLI):
    slug: ClassVar[str] = "crmt"
    test_ckpt: ClassVar[str] = "last"
    links = ("n_classes", "modality_names", "in_sizes", "encoder_kinds")
    predict_input = "data.predict_file"
    predict_input_suffix = ".npz"
    extra_callbacks = (PredictionWriter,)


def main(args: list[str] | None = None) -> CRMTCLI | None:
    """Run the CLI (``train`` = fit + test). Returns the CLI object when called with ``args`` (tests, compare);
    None as the console script, so that ``sys.exit(main())`` exits 0 (handled by ``paperkit.cli.cli_main``)."""
    return cli_main(CRMTCLI, CRMTModule, CRMTDataModule, args)


if __name__ == "__main__":
    main()
