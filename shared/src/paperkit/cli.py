"""The LightningCLI base every paper project uses.

What a project gets by subclassing :class:`PaperCLI` (or calling :func:`cli_main`):

* its packaged ``default.yaml`` is always the base config; ``--config configs/paper.yaml`` layers on top of it, so
  paper configs hold only the differences;
* an integer seed (``seed_everything: 0`` unless the config says otherwise);
* runs in ``runs/<slug>/version_N/`` (``config.yaml``, ``metrics.csv``, ``checkpoints/``) through a CSV logger;
* a configurable ``ModelCheckpoint`` (``--checkpoint.*``) with ``save_last=True``;
* ``fit --ckpt_path last`` resumes the most recent run *in its own folder*, restoring the RNG state as well, so an
  interrupted run ends with the same weights as an uninterrupted one;
* after ``test`` the ``test/*`` metrics are written to ``test_metrics.json`` in the run folder;
* ``<slug> train ...`` = ``fit`` then ``test`` on the best (or, per project, last) checkpoint in one process and one
  run folder; this is what ``make train-<slug>`` runs;
* :class:`~paperkit.errors.PaperkitError` (missing data, malformed files) is printed as one paragraph, exit code 2.
"""

from __future__ import annotations

import logging
import random
import sys
import warnings
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from paperkit.errors import PaperkitError
from paperkit.report import print_metrics, save_json

__all__ = [
    "PaperCLI",
    "PaperCheckpoint",
    "RNGStateCallback",
    "TestReport",
    "cli_main",
    "collect_rng_states",
    "find_last_checkpoint",
    "run_dir",
    "set_rng_states",
]

log = logging.getLogger(__name__)

RUNS_DIR = "runs"


def run_dir(trainer: pl.Trainer) -> Path:
    """The run folder of a trainer (``runs/<slug>/version_N``), created if needed.

    Call it on every rank: ``trainer.log_dir`` broadcasts from rank 0, so calling it on rank 0 alone hangs under DDP.
    """
    path = Path(trainer.log_dir or trainer.default_root_dir)
    if trainer.is_global_zero:
        path.mkdir(parents=True, exist_ok=True)
    return path


def collect_rng_states() -> dict[str, Any]:
    """Python, NumPy, torch and CUDA generator states, as tensors/lists that ``weights_only`` loading accepts."""
    np_state = np.random.get_state()
    states: dict[str, Any] = {
        "python": _to_lists(random.getstate()),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["torch.cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`collect_rng_states`."""
    py = states["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(states["torch"])
    if "torch.cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["torch.cuda"])


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, tuple | list) else x


class RNGStateCallback(Callback):
    """Save the Python/NumPy/torch(/CUDA) RNG states in every checkpoint and restore them on resume.

    Lightning restores weights, optimizer and loop state but not the random generators, so dropout masks and the
    shuffling order would differ after a resume. The state is re-applied after the sanity-check validation (which
    draws from the global generator when it builds its dataloader iterator) and before the first training
    dataloader iterator is created, which is exactly where the uninterrupted run stood when it saved.
    """

    key = "paperkit_rng_states"

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        checkpoint[self.key] = collect_rng_states()

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        self._pending = checkpoint.get(self.key)
        self._apply()

    def on_sanity_check_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._apply()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._pending = None

    def _apply(self) -> None:
        if self._pending is not None:
            set_rng_states(self._pending)


class TestReport(Callback):
    """After ``test``: write the ``test/*`` metrics to ``test_metrics.json`` in the run folder and print them."""

    filename = "test_metrics.json"

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        extra = getattr(pl_module, "extra_test_metrics", None)
        if callable(extra):
            metrics.update({k: float(v) for k, v in extra().items()})
        path = run_dir(trainer) / self.filename  # collective: every rank
        if not trainer.is_global_zero:
            return
        save_json(metrics, path)
        print_metrics(metrics, title="Test metrics")
        log.info("Test metrics written to %s", path)


def find_last_checkpoint(save_dir: str | Path, name: str) -> tuple[Path, int] | None:
    """The newest ``<save_dir>/<name>/version_N/checkpoints/last.ckpt`` and its version number, or None."""
    candidates = []
    for ckpt in Path(save_dir, name).glob("version_*/checkpoints/last*.ckpt"):
        try:
            version = int(ckpt.parent.parent.name.removeprefix("version_"))
        except ValueError:
            continue
        candidates.append((ckpt.stat().st_mtime, version, ckpt))
    if not candidates:
        return None
    _, version, ckpt = max(candidates)
    return ckpt, version


class PaperCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` is rewritten at every checkpoint event.

    Lightning 2.6 rewrites ``last.ckpt`` only when a top-k checkpoint is saved at the same step, so with a monitored
    metric that stops improving ``last.ckpt`` goes stale and ``--ckpt_path last`` would resume from an old epoch.
    """

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._ensure_last(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._ensure_last(trainer)

    def _ensure_last(self, trainer: pl.Trainer) -> None:
        # skipped when a checkpoint (and with it last.ckpt) was already written at this step
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


class PaperCLI(LightningCLI):
    """LightningCLI with the workspace defaults. Subclasses set ``slug`` (and ``package`` if it differs).

    ``test_ckpt`` chooses the checkpoint that ``train`` tests after ``fit``: ``"best"`` (monitored metric, the
    default) or ``"last"`` (e.g. a method whose final stage is the model to report).
    """

    slug: ClassVar[str] = ""
    package: ClassVar[str | None] = None
    test_ckpt: ClassVar[str] = "best"

    def __init__(self, model_class: Any = None, datamodule_class: Any = None, **kwargs: Any) -> None:
        if not self.slug:
            raise TypeError(f"{type(self).__name__} must set the class attribute `slug`")
        self._resume_version: int | None = None
        default_cfg = self.default_config_path()
        defaults = [str(default_cfg)] if default_cfg.is_file() else []
        run = kwargs.get("run", True)
        parser_kwargs = kwargs.pop("parser_kwargs", None)
        if parser_kwargs is None:
            if run:
                parser_kwargs = {sub: {"default_config_files": defaults} for sub in self.subcommands()}
            else:
                parser_kwargs = {"default_config_files": defaults}
        trainer_defaults = {
            "logger": {
                "class_path": "pytorch_lightning.loggers.CSVLogger",
                "init_args": {"save_dir": RUNS_DIR, "name": self.slug},
            },
            "callbacks": [RNGStateCallback(), TestReport()],
            **kwargs.pop("trainer_defaults", {}),
        }
        kwargs.setdefault("seed_everything_default", 0)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        super().__init__(
            model_class, datamodule_class, parser_kwargs=parser_kwargs, trainer_defaults=trainer_defaults, **kwargs
        )

    @classmethod
    def default_config_path(cls) -> Path:
        return Path(str(files(cls.package or cls.slug) / "default.yaml"))

    def add_default_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        super().add_default_arguments_to_parser(parser)
        parser.add_lightning_class_args(PaperCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True})
        parser.add_argument(
            "--torch_threads",
            type=int | None,
            default=None,
            help="torch intra-op CPU threads (null or 0 = torch's default). Tiny embedded models on a shared CPU are "
            "often several times faster with 1.",
        )

    # --- resume: `--ckpt_path last` continues the newest run in its own folder -------------------------------------
    def _parse_ckpt_path(self) -> None:
        sub = self.config.get("subcommand")
        if sub and self.config[sub].get("ckpt_path") == "last":
            save_dir, name = self._logger_location(self.config[sub])
            found = find_last_checkpoint(save_dir, name)
            if found is None:
                raise PaperkitError(
                    f"--ckpt_path last: no checkpoint to resume, no '{Path(save_dir, name)}/version_*/checkpoints/"
                    f"last.ckpt' exists. Start a run with '{self.slug} fit' first, or pass a checkpoint file."
                )
            ckpt, version = found
            log.info("Resuming from %s", ckpt)
            self.config[sub]["ckpt_path"] = str(ckpt)
            if sub == "fit":
                self._resume_version = version
        super()._parse_ckpt_path()

    def _logger_location(self, cfg: Any) -> tuple[str, str]:
        logger = cfg.get("trainer", {}).get("logger")
        init = getattr(logger, "init_args", None) or (logger.get("init_args") if isinstance(logger, dict) else None)
        save_dir = (init or {}).get("save_dir") or RUNS_DIR
        name = (init or {}).get("name") or self.slug
        return str(save_dir), str(name)

    def before_instantiate_classes(self) -> None:
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        threads = cfg.get("torch_threads")
        if threads:
            torch.set_num_threads(int(threads))
        if self._resume_version is not None:
            # resuming writes into the run's own checkpoints/ folder on purpose
            warnings.filterwarnings("ignore", message=r".*exists and is not empty.*")
            logger = self.config[self.subcommand]["trainer"]["logger"]
            init = getattr(logger, "init_args", None)
            if init is not None:
                init["version"] = self._resume_version

    # --- train = fit + test ---------------------------------------------------------------------------------------
    def test_after_fit(self) -> dict[str, float]:
        """Test in the same process and run folder as the ``fit`` that just ran; returns the test metrics."""
        ckpt: str | None = None
        cb = self.trainer.checkpoint_callback
        if self.test_ckpt == "best" and cb is not None and getattr(cb, "best_model_path", ""):
            ckpt = cb.best_model_path
        elif self.test_ckpt == "last" and cb is not None and getattr(cb, "last_model_path", ""):
            ckpt = cb.last_model_path
        if self.trainer.interrupted:
            return {}
        results = self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt, weights_only=False)
        folder = run_dir(self.trainer)  # collective: every rank
        if self.trainer.is_global_zero:
            log.info("Run folder: %s", folder)
        return dict(results[0]) if results else {}


def cli_main(
    cli_class: type[PaperCLI],
    model_class: Any,
    datamodule_class: Any,
    args: list[str] | None = None,
    **kwargs: Any,
) -> PaperCLI | None:
    """Run a project CLI. ``args[0] == "train"`` runs ``fit`` then ``test``; errors become one-paragraph messages.

    Returns the CLI object when called from Python with ``args`` (tests, comparisons), and ``None`` when ``args`` is
    None: console scripts run ``sys.exit(main())``, which must see ``None`` to exit with status 0.
    """
    argv = list(sys.argv[1:] if args is None else args)
    train = bool(argv) and argv[0] == "train"
    if train:
        argv[0] = "fit"
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cli = cli_class(model_class, datamodule_class, args=argv, **kwargs)
        if train:
            cli.test_after_fit()
        return cli if args is not None else None
    except PaperkitError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
