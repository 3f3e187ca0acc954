"""Command line of the CLFA project: ``clfa fit|validate|test|predict|train`` (LightningCLI, paperkit defaults)."""

from __future__ import annotations

from clfa.data import CLFADataModule
from clfa.module import CLFAModule
from paperkit.cli import PaperCLI, make_main
from paperkit.errors import run_script

__all__ = ["CLFACLI", "main"]


class CLFACLI(PaperCLI):
    slug = "clfa"
    links = ("n_classes", "vocab_size", "class_names")
    parse_links = (("data.image_size", "model.image_size"), ("data.use_ocr", "model.use_ocr"))
    predict_input = "data.predict_path"
    predict_input_suffix = ".json"


main = make_main(CLFACLI, CLFAModule, CLFADataModule)


if __name__ == "__main__":
    run_script(main)
