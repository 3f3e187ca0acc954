"""Command line of the CLFA project: ``clfa fit|validate|test|predict|train`` (LightningCLI, paperkit defaults)."""

from __future__ import annotations

import torch
from pytorch_lightning.cli import LightningArgumentParser

from clfa.data import CLFADataModule
from clfa.module import CLFAModule
from paperkit.cli import PaperCLI, cli_main

__all__ = ["CLFACLI", "main"]


class CLFACLI(PaperCLI):
    slug = "clfa"

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        for src, dst in (
            ("n_classes", "n_classes"),
            ("vocab_size", "vocab_size"),
            ("class_names", "class_names"),
        ):
            parser.link_arguments(f"data.{src}", f"model.{dst}", apply_on="instantiate")
        parser.link_arguments("data.image_size", "model.image_size")
        parser.link_arguments("data.use_ocr", "model.use_ocr")
        parser.add_argument(
            "--torch_threads", type=int | None, default=None, help="torch CPU threads (None = torch's default)"
        )

    def before_instantiate_classes(self) -> None:
        super().before_instantiate_classes()
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        threads = cfg.get("torch_threads")
        if threads:
            # The tiny default model is dominated by per-op overhead; extra threads only add contention on a shared CPU.
            torch.set_num_threads(int(threads))


def main(args: list[str] | None = None) -> CLFACLI | None:
    """Run the CLI (``train`` = fit + test). Returns the CLI object when called with ``args`` (tests, compare);
    None as the console script, so that ``sys.exit(main())`` exits 0 (handled by ``paperkit.cli.cli_main``)."""
    return cli_main(CLFACLI, CLFAModule, CLFADataModule, args)


if __name__ == "__main__":
    main()
