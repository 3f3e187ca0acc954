"""Command line: ``kamcl fit|validate|test|train --config ...`` (LightningCLI via paperkit)."""

from __future__ import annotations

from pytorch_lightning.cli import LightningArgumentParser

from kamcl.data import KAMCLDataModule
from kamcl.module import KAMCLModule
from paperkit.cli import PaperCLI, cli_main

__all__ = ["KAMCLCLI", "main"]


class KAMCLCLI(PaperCLI):
    slug = "kamcl"

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # `torch_threads` comes from paperkit's PaperCLI; the embedded default sets 1: its graphs are tiny, and on a
        # shared 2-core machine more threads were measured ~6x slower.
        for name in ("n_users", "n_items", "n_entities", "n_relations", "n_behaviours"):
            parser.link_arguments(f"data.{name}", f"model.{name}", apply_on="instantiate")


def main(args: list[str] | None = None) -> KAMCLCLI | None:
    """Run the CLI (``train`` = fit + test). Returns the CLI object when called with ``args`` (tests, compare);
    None as the console script, so that ``sys.exit(main())`` exits 0 (handled by ``paperkit.cli.cli_main``)."""
    return cli_main(KAMCLCLI, KAMCLModule, KAMCLDataModule, args)


if __name__ == "__main__":
    main()
