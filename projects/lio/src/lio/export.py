"""``lio export``: the inference model of a trained checkpoint, without the LIO heads (Sec. 3: they are training-only).

The file holds ``{"config": LIOConfig fields, "class_names", "state_dict"}`` of :class:`lio.model.Classifier`
(backbone + GAP + Linear). :func:`load_exported` rebuilds it from random init (no download) and loads the weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

import torch

from lio.model import LIO, Classifier, LIOConfig
from paperkit.errors import DataFormatError, PaperkitError

__all__ = ["export_checkpoint", "export_main", "load_exported"]

log = logging.getLogger(__name__)


def export_checkpoint(ckpt: str | Path, out: str | Path) -> Path:
    """Write the inference model of a LIOModule checkpoint to ``out``."""
    from lio.module import LIOModule

    ckpt = Path(ckpt)
    if not ckpt.is_file():
        raise PaperkitError(f"--ckpt_path '{ckpt}': no such checkpoint file (runs/lio/version_N/checkpoints/*.ckpt)")
    try:
        module = LIOModule.load_from_checkpoint(ckpt, map_location="cpu", weights_only=False, pretrained=None)
    except (RuntimeError, KeyError, EOFError, OSError) as err:
        raise DataFormatError(ckpt, f"not a lio checkpoint ({type(err).__name__}: {err})") from None
    net = module.model.export()
    cfg = dataclasses.asdict(module.cfg)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": cfg, "class_names": module.class_names, "state_dict": net.state_dict()}, out)
    n = sum(p.numel() for p in net.parameters())
    log.info("exported the inference model (%d parameters, no LIO head) to %s", n, out)
    return out


def load_exported(path: str | Path) -> tuple[Classifier, list[str]]:
    """(the inference model in eval mode, the class names) from a file written by :func:`export_checkpoint`."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    cfg = LIOConfig(**{**blob["config"], "pretrained": None, "use_oel": False, "use_scl": False})
    net = LIO(cfg).net
    net.load_state_dict(blob["state_dict"])
    return net.eval(), list(blob["class_names"])


def export_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="lio export", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt_path", required=True)
    p.add_argument("--out", default="lio_inference.pt")
    opts = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        export_checkpoint(opts.ckpt_path, opts.out)
    except PaperkitError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
    return 0
