"""Command line of the CLFA project: ``clfa fit|validate|test|predict|train`` (LightningCLI, paperkit defaults)."""

from __future__ import annotations

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
        # `torch_threads` comes from paperkit's PaperCLI: the tiny default model is dominated by per-op overhead, and
        # extra threads only add contention on a shared CPU, so default.yaml sets 1.


def main(args: list[str] | None = None) -> CLFACLI | None:
    """Run the CLI (``train`` = fit + test). Returns the CLI object when called with ``args`` (tests, compare);
    None as the console script, so that ``sys.exit(main())`` exits 0 (handled by ``paperkit.cli.cli_main``)."""
    return cli_main(CLFACLI, CLFAModule, CLFADataModule, args)


if __name__ == "__main__":
    main()
