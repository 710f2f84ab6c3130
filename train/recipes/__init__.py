"""Named, seeded recipes: the shipped models and the experiments, in one table.

``python -m train recipe list`` shows the table; ``python -m train recipe run NAME`` runs one
(``ecg train recipe ...`` is the same command). Each recipe is a module with

- ``SETTINGS``: a frozen ``Settings`` object holding every value that decides what it trains. Its
  ``FitConfig`` s derive from a named preset in :mod:`train.recipes.presets` with
  ``dataclasses.replace(fit_preset(NAME), ...)``, listing only what differs from it; no recipe
  imports or changes another recipe's settings, nor a preset (where one experiment measures
  another recipe, a test holds the two equal instead);
- ``run(settings=SETTINGS, *, <folders>, workers=None)``: the recipe itself.

Shipped-model recipes live in ``train/recipes/shipped/``, experiments in ``train/recipes/experiments/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, Literal

from train.recipes.experiments import active_learning, contrastive, downstream, learning_curve, pu_labels
from train.recipes.shipped import default_1lead, default_12lead


@dataclass(frozen=True)
class Recipe:
    name: str
    kind: Literal["shipped", "experiment"]
    run: Callable[..., Any]
    settings: Any
    summary: str
    writes: str
    minutes: int                      # on this project's 2-core CPU, from nothing

    def resolved(self, *, epochs: int | None = None, seeds: tuple[int, ...] | None = None) -> Any:
        """The settings with the command line's overrides (for quick runs and tests)."""
        settings = self.settings
        if epochs is not None:
            settings = settings.with_epochs(epochs)
        if seeds is not None:
            if "seeds" not in {f.name for f in fields(settings)}:
                raise ValueError(f"recipe {self.name!r} has no seeds to choose (it trains one seed)")
            settings = replace(settings, seeds=tuple(seeds))
        return settings


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("default-12lead", "shipped", default_12lead.run, default_12lead.SETTINGS,
           "the default 12-lead model: a 3-seed ensemble; 5-fold CV of each seed for metrics, calibration, "
           "thresholds and the out-of-distribution reference, then the final networks and an external check",
           "models/net1d-small-12lead-default, models/README.md, docs/calibration_and_thresholds.md", 35),
    Recipe("default-1lead", "shipped", default_1lead.run, default_1lead.SETTINGS,
           "the single-lead model: lead I vs axis augmentation (experiment 2), CinC 2017 hold-out, final model",
           "models/net1d-small-1lead-default, docs/experiments/single_lead.*", 45),
    Recipe("pu-labels", "experiment", pu_labels.run, pu_labels.SETTINGS,
           "experiment 1: nnPU vs BCE with 30% / 60% of the training positives hidden",
           "docs/experiments/pu_labels.*", 35),
    Recipe("downstream", "experiment", downstream.run, downstream.SETTINGS,
           "experiment 3: linear probe vs fine-tuning vs scratch for age, sex and LVH",
           "docs/experiments/downstream.*", 35),
    Recipe("contrastive", "experiment", contrastive.run, contrastive.SETTINGS,
           "experiment 4: SimCLR pretraining, then the downstream linear probes (run after downstream)",
           "docs/experiments/contrastive.*", 15),
    Recipe("learning-curve", "experiment", learning_curve.run, learning_curve.SETTINGS,
           "experiment 5: the default 12-lead recipe at 25/50/100% of the records, 3 seeds",
           "docs/experiments/learning_curve.*", 70),
    Recipe("active-learning", "experiment", active_learning.run, active_learning.SETTINGS,
           "experiment 6: acquisition order (uncertainty, + diversity) vs random order, linear probe on SimCLR embeddings",
           "docs/experiments/active_learning.*", 15),
)}

# Names the former scripts used (scripts/run_experiment.py pu|single-lead); model cards still quote them.
ALIASES = {"pu": "pu-labels", "single-lead": "default-1lead"}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name`` (or one of its former names)."""
    recipe = RECIPES.get(ALIASES.get(name, name))
    if recipe is None:
        raise KeyError(f"no recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return recipe


def settings_dict(settings: Any) -> Any:
    """A recipe's settings as plain JSON-able data (nested dataclasses and configs spelled out)."""
    if hasattr(settings, "to_dict") and not isinstance(settings, type):
        return settings_dict(settings.to_dict())
    if is_dataclass(settings) and not isinstance(settings, type):
        return {f.name: settings_dict(getattr(settings, f.name)) for f in fields(settings)}
    if isinstance(settings, dict):
        return {str(k): settings_dict(v) for k, v in settings.items()}
    if isinstance(settings, (list, tuple)):
        return [settings_dict(v) for v in settings]
    return settings


__all__ = ["ALIASES", "RECIPES", "Recipe", "get_recipe", "settings_dict"]
