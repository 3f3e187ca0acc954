"""paperkit: the thin utility layer shared by the paper projects of this workspace.

Only what two or more projects use lives here: the base LightningCLI (:mod:`paperkit.cli`), user-facing errors
(:mod:`paperkit.errors`), metric tables and figures (:mod:`paperkit.report`), the multi-seed comparison runner
(:mod:`paperkit.compare`), the benchmark harness (:mod:`paperkit.bench`) and test helpers (:mod:`paperkit.testing`).
Never a model, a loss, a paper-specific loader or an import of a domain library.
"""

from paperkit.errors import DataFormatError, DataNotFoundError, PaperkitError, render_tree

__all__ = ["DataFormatError", "DataNotFoundError", "PaperkitError", "render_tree"]
__version__ = "0.1.0"
