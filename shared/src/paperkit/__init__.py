"""paperkit: the thin utility layer shared by the paper projects of this workspace.

Only what two or more projects use lives here, one helper per shared job:

* :mod:`paperkit.cli`: the base LightningCLI (defaults, links, checkpoints, resume, ``train``, errors as one paragraph);
* :mod:`paperkit.runs`: run folders (``runs/<slug>/version_N``); :mod:`paperkit.configs`: a project's ``configs/``;
* :mod:`paperkit.config`: config dataclasses built from hyperparameters by name;
* :mod:`paperkit.errors`: user-facing errors; :mod:`paperkit.report`: tables, figures, prediction files;
* :mod:`paperkit.compare`: multi-seed comparisons and validation grid searches; :mod:`paperkit.bench`: benchmarks;
* :mod:`paperkit.synthetic`: generated data written once, atomically, keyed by its settings;
* :mod:`paperkit.wheeldata`: real data shipped inside wheels on the package index;
* :mod:`paperkit.testing`: the pytest plugin and test helpers.

Never a model, a loss, a paper-specific loader or an import of a domain library.
"""

from paperkit.errors import DataFormatError, DataNotFoundError, PaperkitError, render_tree

__all__ = ["DataFormatError", "DataNotFoundError", "PaperkitError", "render_tree"]
__version__ = "2.0.0"
