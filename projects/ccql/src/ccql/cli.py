"""The ``ccql`` console script: ``ccql fit|validate|test|predict|train`` (LightningCLI via paperkit).

``ccql train`` = fit, then test on the checkpoint with the best validation purchase HR@10.
``ccql predict --ckpt_path RUN.ckpt --data.predict_file sessions.csv`` (columns session_id,item_id, one row per event,
in order) or ``--data.predict_items [3,17,42]`` writes the top ``--data.top_k`` next items per session with their
scores to ``predictions.csv`` in a new run folder. The data options must name the training data set (its item
catalogue maps the ids).
"""

from __future__ import annotations

from ccql.data import CCQLDataModule
from ccql.module import CCQLModule
from paperkit.cli import PaperCLI, make_main
from paperkit.errors import run_script
from paperkit.report import PredictionWriter

__all__ = ["CCQLCLI", "main"]


class CCQLCLI(PaperCLI):
    slug = "ccql"
    links = ("n_items", "state_len")
    predict_input = "data.predict_file"
    predict_input_suffix = ".csv"
    extra_callbacks = (PredictionWriter,)


main = make_main(CCQLCLI, CCQLModule, CCQLDataModule)


if __name__ == "__main__":
    run_script(main)
