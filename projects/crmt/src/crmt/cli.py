"""Command line of the CRMT project: ``crmt fit|validate|test|train`` (LightningCLI, paperkit defaults).

``crmt train`` runs both CRMT steps in one ``fit`` and then tests the *last* checkpoint (the model after step 2).
"""

from __future__ import annotations

from typing import ClassVar

from crmt.data import CRMTDataModule
from crmt.module import CRMTModule
from paperkit.cli import PaperCLI, make_main
from paperkit.errors import PaperkitError, run_script
from paperkit.report import PredictionWriter

__all__ = ["CRMTCLI", "main"]


class CRMTCLI(PaperCLI):
    slug: ClassVar[str] = "crmt"
    test_ckpt: ClassVar[str] = "last"
    links = ("n_classes", "modality_names", "in_sizes", "encoder_kinds")
    predict_input = "data.predict_file"
    predict_input_suffix = ".npz"
    extra_callbacks = (PredictionWriter,)

    def before_instantiate_classes(self) -> None:
        """``predict``: the head size and the modalities come from the checkpoint (its hyper-parameters are in the
        model config by now), so predicting on users' clips needs no label list; a ``--data`` setting that
        contradicts the checkpoint is a one-paragraph error instead of a state-dict mismatch."""
        super().before_instantiate_classes()
        if self.subcommand != "predict":
            return
        cfg = self.config.predict
        model, data = cfg.model, cfg.data
        ckpt_classes = model.get("n_classes")
        if data.get("n_classes") is None:
            data.n_classes = ckpt_classes
        elif ckpt_classes is not None and data.n_classes != ckpt_classes:
            raise PaperkitError(
                f"crmt predict: --data.n_classes={data.n_classes} but the checkpoint's head has {ckpt_classes} "
                "classes; leave --data.n_classes unset (it is taken from the checkpoint)."
            )
        names = model.get("modality_names")
        dataset = data.get("dataset")
        expected = {"synthetic": ["A", "B"], "kinetics_sounds": ["audio", "visual"], "vggsound": ["audio", "visual"],
                    "ucf101": ["rgb", "flow"]}.get(dataset)  # fmt: skip
        if names and expected and list(names) != expected:
            match = [k for k, v in {"synthetic": ["A", "B"], "kinetics_sounds": ["audio", "visual"],
                                    "ucf101": ["rgb", "flow"]}.items() if v == list(names)]  # fmt: skip
            hint = f"pass --data.dataset {match[0]}" if match else "pass the --data.dataset it was trained on"
            raise PaperkitError(
                f"crmt predict: the checkpoint was trained on the modalities {list(names)}, but --data.dataset="
                f"{dataset} has {expected}; {hint} (and its --config, e.g. configs/paper.yaml, for the input sizes)."
            )


main = make_main(CRMTCLI, CRMTModule, CRMTDataModule)


if __name__ == "__main__":
    run_script(main)
