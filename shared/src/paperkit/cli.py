"""The LightningCLI base every paper project uses.

What a project gets by subclassing :class:`PaperCLI` (or calling :func:`cli_main`):

* its packaged ``default.yaml`` is always the base config; ``--config configs/paper.yaml`` layers on top of it, so
  paper configs hold only the differences;
* an integer seed (``seed_everything: 0`` unless the config says otherwise);
* runs in ``runs/<slug>/version_N/`` (``config.yaml``, ``metrics.csv``, ``checkpoints/``) through a CSV logger;
* a configurable ``ModelCheckpoint`` (``--checkpoint.*``) with ``save_last=True``;
* ``fit --ckpt_path last`` resumes the most recent run *in its own folder*, restoring the RNG state as well, so an
  interrupted run ends with the same weights as an uninterrupted one;
* after ``fit`` a learning-curve figure (``learning_curve.png``: training loss, validation loss and the monitored
  metric per epoch, from ``metrics.csv``) in the run folder;
* after ``test`` the ``test/*`` metrics, the module's ``extra_test_metrics()`` and the selected checkpoint's epoch
  and score (``selection/best_epoch``, ``selection/<monitor>``) are written to ``test_metrics.json`` and printed as
  one table;
* ``<slug> train ...`` = ``fit`` then ``test`` on the best (or, per project, last) checkpoint in one process and one
  run folder; this is what ``make train-<slug>`` runs;
* argument links declared as data (``links``), no option-name abbreviations, ``--torch_threads``;
* ``predict`` refuses to run without ``--ckpt_path`` (no predictions from random weights), and any nonexistent
  ``--ckpt_path`` is an error;
* :class:`~paperkit.errors.PaperkitError` (missing data, malformed files) is printed as one paragraph, exit code 2.

Private Lightning APIs used here, each because no public hook exists (re-check them on every Lightning upgrade):

* ``LightningCLI._parse_ckpt_path``: the only place where ``--ckpt_path`` is read before the model is built; we
  resolve ``last`` and refuse missing files there. No upstream issue asks for a public hook (searched Lightning's
  tracker); Lightning itself silently skips a missing file there and fails later with a traceback.
* ``ModelCheckpoint._should_save_on_train_epoch_end``, ``_should_skip_saving_checkpoint``,
  ``_save_last_checkpoint``, ``_monitor_candidates``: to rewrite ``last.ckpt`` at every checkpoint event. Since
  Lightning 2.6 ``save_last`` writes ``last.ckpt`` only when a top-k checkpoint is written at the same step, so it goes
  stale once the monitored metric stops improving (reported downstream in openclimatefix/pvnet#542 and #544; no
  upstream Lightning issue found when this was written).
"""

from __future__ import annotations

import logging
import random
import sys
import warnings
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from paperkit.errors import PaperkitError
from paperkit.report import print_metrics, save_json, save_learning_curve
from paperkit.runs import RUNS_DIR, find_last_checkpoint, run_dir

__all__ = [
    "LearningCurve",
    "PaperCLI",
    "PaperCheckpoint",
    "RNGStateCallback",
    "TestReport",
    "cli_main",
    "collect_rng_states",
    "make_main",
    "selection_metrics",
    "set_rng_states",
]

log = logging.getLogger(__name__)


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


def selection_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """The best checkpoint's epoch and monitored score: ``selection/best_epoch``, ``selection/<monitor, / -> _>``.

    From the checkpoint callback of this process (``train``), else from the state saved in the tested checkpoint
    (``test --ckpt_path ...``). Empty when nothing was monitored.
    """
    cb = trainer.checkpoint_callback
    best_path = getattr(cb, "best_model_path", "") if cb is not None else ""
    score = getattr(cb, "best_model_score", None) if cb is not None else None
    monitor = getattr(cb, "monitor", None) if cb is not None else None
    if (not best_path or score is None) and trainer.ckpt_path and Path(trainer.ckpt_path).is_file():
        ckpt = torch.load(trainer.ckpt_path, map_location="cpu", mmap=True, weights_only=False)
        for key, state in ckpt.get("callbacks", {}).items():
            if str(key).startswith(("ModelCheckpoint", "PaperCheckpoint")) and state.get("best_model_path"):
                best_path, score = state["best_model_path"], state.get("best_model_score")
                monitor = state.get("monitor")
                break
    if not monitor or score is None:
        return {}
    out = {f"selection/{monitor.replace('/', '_')}": float(score)}
    if best_path and Path(best_path).is_file():
        best = torch.load(best_path, map_location="cpu", mmap=True, weights_only=False)
        out["selection/best_epoch"] = float(best["epoch"])
    return out


class TestReport(Callback):
    """After ``test``: write the ``test/*`` metrics (+ ``extra_test_metrics()`` + the checkpoint selection) to
    ``test_metrics.json`` in the run folder and print them as one table."""

    filename = "test_metrics.json"

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        extra = getattr(pl_module, "extra_test_metrics", None)
        if callable(extra):
            metrics.update({k: float(v) for k, v in extra().items()})
        metrics.update(selection_metrics(trainer))
        path = run_dir(trainer) / self.filename  # collective: every rank
        if not trainer.is_global_zero:
            return
        save_json(metrics, path)
        print_metrics(metrics, title="Test metrics")
        log.info("Test metrics written to %s", path)


class LearningCurve(Callback):
    """After ``fit``: ``learning_curve.png`` (train loss, val loss, the monitored metric per epoch) in the run
    folder."""

    filename = "learning_curve.png"

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        folder = run_dir(trainer)  # collective: every rank
        logger = trainer.logger
        if not trainer.is_global_zero or logger is None or trainer.sanity_checking:
            return
        logger.save()  # flush metrics.csv
        metrics_csv = Path(logger.log_dir or folder) / "metrics.csv"
        if not metrics_csv.is_file():
            return
        monitor = getattr(trainer.checkpoint_callback, "monitor", None)
        path = save_learning_curve(metrics_csv, folder / self.filename, monitor)
        if path is not None:
            log.info("Learning curve written to %s", path)


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

    Class attributes:

    * ``slug`` (required), ``package`` (import package, if it differs from the slug);
    * ``test_ckpt``: the checkpoint that ``train`` tests after ``fit``, ``"best"`` (monitored metric, the default) or
      ``"last"`` (a method whose final stage is the model to report);
    * ``links``: sizes the data knows, linked into the model at instantiation: ``"n_classes"`` links
      ``data.n_classes -> model.n_classes``, ``("data.a", "model.b")`` an explicit pair;
    * ``parse_links``: ``(source, target)`` pairs linked at parse time (values that the config alone determines);
    * ``predict_input`` / ``predict_input_suffix``: the option that points ``predict`` at a user's file, and the file
      type it expects (the workspace's predict contract test feeds it missing and undecodable files);
    * ``extra_callbacks``: callback classes added as configurable trainer callbacks with their default arguments.
    """

    slug: ClassVar[str] = ""
    package: ClassVar[str | None] = None
    test_ckpt: ClassVar[Literal["best", "last"]] = "best"
    links: ClassVar[tuple[str | tuple[str, str], ...]] = ()
    parse_links: ClassVar[tuple[tuple[str, str], ...]] = ()
    predict_input: ClassVar[str | None] = None
    predict_input_suffix: ClassVar[str] = ".bin"
    extra_callbacks: ClassVar[tuple[type[Callback], ...]] = ()

    def __init__(self, model_class: Any = None, datamodule_class: Any = None, **kwargs: Any) -> None:
        if not self.slug:
            raise TypeError(f"{type(self).__name__} must set the class attribute `slug`")
        self._resume_version: int | None = None
        default_cfg = self.default_config_path()
        defaults = [str(default_cfg)] if default_cfg.is_file() else []
        run = kwargs.get("run", True)
        parser_kwargs = kwargs.pop("parser_kwargs", None)
        if parser_kwargs is None:
            # no abbreviations: `--model.n_head 3` must be an error, not a silent `--model.n_heads 3`
            common = {"default_config_files": defaults, "allow_abbrev": False}
            if run:
                parser_kwargs = {"allow_abbrev": False, **{sub: dict(common) for sub in self.subcommands()}}
            else:
                parser_kwargs = common
        trainer_defaults = {
            "logger": {
                "class_path": "pytorch_lightning.loggers.CSVLogger",
                "init_args": {"save_dir": RUNS_DIR, "name": self.slug},
            },
            "callbacks": [RNGStateCallback(), TestReport(), LearningCurve(), *(c() for c in self.extra_callbacks)],
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

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Apply ``links`` and ``parse_links``; a subclass that overrides this calls ``super()`` first."""
        for link in self.links:
            src, dst = (f"data.{link}", f"model.{link}") if isinstance(link, str) else link
            parser.link_arguments(src, dst, apply_on="instantiate")
        for src, dst in self.parse_links:
            parser.link_arguments(src, dst)

    # --- checkpoints: `--ckpt_path last` continues the newest run in its own folder; missing files are errors -------
    def _parse_ckpt_path(self) -> None:
        sub = self.config.get("subcommand")
        ckpt = self.config[sub].get("ckpt_path") if sub else None
        if sub == "predict" and not ckpt:
            raise PaperkitError(
                f"'{self.slug} predict' needs a trained checkpoint: pass --ckpt_path "
                f"runs/{self.slug}/version_N/checkpoints/<best or last>.ckpt (or --ckpt_path last for the newest run). "
                "Predictions from randomly initialised weights would be meaningless."
            )
        if ckpt and ckpt not in ("last", "best", "hpc", "registry") and not Path(ckpt).is_file():
            raise PaperkitError(
                f"--ckpt_path '{ckpt}': no such checkpoint file. Runs write theirs to "
                f"runs/{self.slug}/version_N/checkpoints/ (or pass --ckpt_path last for the newest run's last.ckpt)."
            )
        if sub and ckpt == "best" and sub != "fit":
            raise PaperkitError(
                f"--ckpt_path best only means something right after fit in the same process; pass the file, e.g. "
                f"runs/{self.slug}/version_N/checkpoints/<name>.ckpt."
            )
        if sub and ckpt == "last":
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
        if self.subcommand == "test" and "verbose" in cfg:
            cfg["verbose"] = False  # TestReport prints the one table (Lightning's own would be a second)
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
        results = self.trainer.test(
            self.model, datamodule=self.datamodule, ckpt_path=ckpt, weights_only=False, verbose=False
        )
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
    _quiet_lightning_tips()
    try:
        with warnings.catch_warnings():
            # we pass the console script's own words (possibly `train` -> `fit`); sys.argv must stay as it is, since
            # Lightning's DDP launcher re-runs it in the child processes
            warnings.filterwarnings("ignore", message=r".*LightningCLI's args parameter is intended.*")
            cli = cli_class(model_class, datamodule_class, args=argv, **kwargs)
            if train:
                cli.test_after_fit()
        return cli if args is not None else None
    except PaperkitError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def _quiet_lightning_tips() -> None:
    """Drop Lightning's advertisement for its cloud logger (printed on every run)."""
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    if not any(isinstance(f, _DropTips) for f in logger.filters):
        logger.addFilter(_DropTips())


def make_main(cli_class: type[PaperCLI], model_class: Any, datamodule_class: Any) -> Any:
    """The ``main(args=None)`` of a project's ``cli.py`` (its console script ``<slug> = "<slug>.cli:main"``).

    ``main(args)`` runs the CLI (``train`` = fit + test) and returns the CLI object (tests, comparisons); called as the
    console script (``args`` None) it returns None, so that ``sys.exit(main())`` exits 0.
    """

    def main(args: list[str] | None = None) -> PaperCLI | None:
        return cli_main(cli_class, model_class, datamodule_class, args)

    main.__doc__ = f"Run the ``{cli_class.slug}`` CLI: ``{cli_class.slug} fit|validate|test|predict|train ...``."
    return main
