"""``clfa.predict(image, text, ckpt)``: predictions for (image, text) pairs from Python (notebooks, scripts).

It runs exactly what ``clfa predict`` runs (the run's own ``config.yaml`` for tokenizer, image size and data settings,
the model from the checkpoint), in a temporary run folder, and returns the rows of ``predictions.csv``: the pair id,
the predicted class name and one probability per class. Bad input (a missing or undecodable image, no checkpoint) is a
:class:`paperkit.errors.PaperkitError`, as on the command line.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from paperkit.errors import PaperkitError
from paperkit.runs import latest_run

__all__ = ["predict"]


def predict(
    image: str | Path | Sequence[str | Path],
    text: str | Sequence[str],
    ckpt: str | Path,
    config: str | Path | None = None,
) -> list[dict[str, str | float]]:
    """Predict one pair (``image``, ``text``) or a list of pairs with the model in ``ckpt``.

    ``config`` defaults to the ``config.yaml`` of the run the checkpoint belongs to (``<run>/checkpoints/x.ckpt``).
    """
    from clfa.cli import main  # the CLI imports the model stack; keep `import clfa` light

    images = [image] if isinstance(image, str | Path) else list(image)
    texts = [text] if isinstance(text, str) else list(text)
    if len(images) != len(texts):
        raise PaperkitError(f"clfa.predict: {len(images)} images but {len(texts)} texts")
    ckpt = Path(ckpt)
    if not ckpt.is_file():
        raise PaperkitError(f"clfa.predict: no checkpoint file '{ckpt}'")
    config = Path(config) if config else ckpt.parent.parent / "config.yaml"
    if not config.is_file():
        raise PaperkitError(f"clfa.predict: no run config '{config}'; pass config= (the run's config.yaml)")
    with tempfile.TemporaryDirectory(prefix="clfa-predict-") as tmp:
        pairs = Path(tmp, "pairs.json")
        rows = [
            {"image_id": str(n), "image": str(Path(im).resolve()), "text": t}
            for n, (im, t) in enumerate(zip(images, texts))
        ]
        pairs.write_text(json.dumps(rows))
        main(["predict", "--config", str(config), f"--ckpt_path={ckpt}", f"--data.predict_path={pairs}",
              f"--trainer.logger.init_args.save_dir={tmp}", "--trainer.enable_progress_bar=false"])  # fmt: skip
        with open(latest_run(tmp, "clfa") / "predictions.csv", newline="") as f:
            out = list(csv.DictReader(f))
    return [{k: (v if k in ("id", "pred") else float(v)) for k, v in r.items()} for r in out]
