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
        for name in ("n_users", "n_items", "n_entities", "n_relations", "n_behaviours"):
            parser.link_arguments(f"data.{name}", f"model.{name}", apply_on="instantiate")


def main(args: list[str] | None = None) -> KAMCLCLI | None:
    """Run the CLI. Returns the CLI object when called from Python with ``args`` (tests); None for the console
    script, whose wrapper would otherwise pass the object to ``sys.exit`` (exit code 1)."""
    cli = cli_main(KAMCLCLI, KAMCLModule, KAMCLDataModule, args)
    return cli if args is not None else None


if __name__ == "__main__":
    main()
