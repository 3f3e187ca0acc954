"""Command line: ``kamcl fit|validate|test|train --config ...`` (LightningCLI via paperkit)."""

from __future__ import annotations

from kamcl.data import KAMCLDataModule
from kamcl.module import KAMCLModule
from paperkit.cli import PaperCLI, make_main
from paperkit.report import PredictionWriter

__all__ = ["KAMCLCLI", "main"]


class KAMCLCLI(PaperCLI):
    slug = "kamcl"
    # `torch_threads` comes from paperkit's PaperCLI; the embedded default sets 1: its graphs are tiny, and on a
    # shared 2-core machine more threads were measured ~6x slower.
    links = ("n_users", "n_items", "n_entities", "n_relations", "n_behaviours")
    predict_input = "data.predict_users"
    predict_input_suffix = ".csv"
    extra_callbacks = (PredictionWriter,)


main = make_main(KAMCLCLI, KAMCLModule, KAMCLDataModule)


if __name__ == "__main__":
    main()
