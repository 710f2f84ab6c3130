"""Where the repository's folders are, for ``train/`` and ``scripts/`` (defined once, here).

``REPO_ROOT`` is ecgcore's (``ecgcore.config.REPO_ROOT``): one definition for the whole project.
The real labelled data sits beside the repository in ``../shared/data``.
"""

from __future__ import annotations

from ecgcore.config import REPO_ROOT

SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"   # the real records (read only)
LOCAL_DATA_DIR = REPO_ROOT / "data" / "local"             # training sets built from them (git-ignored)
ARTIFACTS_DIR = REPO_ROOT / "artifacts"                   # intermediate fits of the recipes (git-ignored)
MODELS_DIR = REPO_ROOT / "models"                         # the shipped bundles
EXPERIMENT_DOCS_DIR = REPO_ROOT / "docs" / "experiments"  # each experiment's table, JSON and plot

__all__ = ["ARTIFACTS_DIR", "EXPERIMENT_DOCS_DIR", "LOCAL_DATA_DIR", "MODELS_DIR", "REPO_ROOT", "SHARED_DATA_DIR"]
