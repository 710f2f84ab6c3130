"""Named ``FitConfig`` presets: the base training settings the recipes start from (like timm's named configs).

A preset is how this project trains one network on its 2-core CPU: the optimiser and schedule, a
fixed epoch budget without early stopping (the held-out fold is never used for a choice), the
seed, the label rule, the default augmentation, one thread and no progress bar. A recipe takes
one and lists only what differs::

    fit = replace(fit_preset("net1d-small-12lead"), epochs=25, bundle_name="net1d-small-12lead-default")

Rules:

- ``fit_preset(name)`` hands out a fresh deep copy, so a recipe's config shares no object (no
  ``loss_options`` or ``model_overrides`` dict) with the preset or with another recipe's config;
  derive with ``dataclasses.replace`` and never change a preset, nor another recipe's settings,
  in place (``tests/train/test_recipe_registry.py`` checks both).
- A preset holds no recipe's own choices (bundle name, labels, output folder); those stay in the
  recipe. Changing a preset changes every recipe derived from it: ``tests/train/recipe_settings.json``
  snapshots each recipe's resolved settings, so such a change shows there, recipe by recipe.
- This module imports no recipe (the recipes import it; ``train.recipes`` itself is the registry).
"""

from __future__ import annotations

import copy

from train.augment import AugmentConfig
from train.fit import FitConfig


def _cpu_recipe(model: str) -> FitConfig:
    return FitConfig(
        out_dir="",                 # each fit sets its own folder
        model=model,
        epochs=20,
        batch_size=32,
        lr=3e-3,
        weight_decay=0.05,
        warmup_epochs=1.0,
        schedule="cosine",
        patience=None,              # a fixed budget: no early stopping on a held-out fold
        seed=20261124,
        min_positives=10,
        augment=AugmentConfig(),
        progress=False,
        num_threads=1,              # 2 OpenMP threads on a shared 2-core CPU measured 10x slower than 1
    )


_FIT_PRESETS: dict[str, FitConfig] = {
    "net1d-small-12lead": _cpu_recipe("net1d-small-12lead"),
    "net1d-small-1lead": _cpu_recipe("net1d-small-1lead"),   # lead I input; otherwise the same
}

FIT_PRESET_NAMES: tuple[str, ...] = tuple(_FIT_PRESETS)


def fit_preset(name: str) -> FitConfig:
    """A fresh copy of the preset called ``name`` (deep: nothing in it is shared with anyone)."""
    try:
        return copy.deepcopy(_FIT_PRESETS[name])
    except KeyError:
        raise KeyError(f"no FitConfig preset {name!r}; choose one of {', '.join(FIT_PRESET_NAMES)}") from None


__all__ = ["FIT_PRESET_NAMES", "fit_preset"]
