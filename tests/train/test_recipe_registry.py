"""The recipe table: one entry point, shipped recipes apart from experiments, no recipe reaching into
another's settings, and the pairs that must stay equal (an experiment measuring another recipe)."""

from __future__ import annotations

import ast
import inspect
import json
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

import train.recipes as recipes_package
from train.__main__ import main
from train.recipes import ALIASES, RECIPES, get_recipe, settings_dict
from train.recipes.experiments import active_learning, contrastive, downstream, learning_curve
from train.recipes.presets import FIT_PRESET_NAMES, fit_preset
from train.recipes.shipped import default_12lead

RECIPES_DIR = Path(recipes_package.__file__).parent


def test_every_recipe_is_in_the_table_once_with_its_kind_and_folder():
    modules = {p.stem for p in RECIPES_DIR.glob("*/*.py") if p.stem != "__init__"}
    assert len(RECIPES) == len(modules) == 7
    for recipe in RECIPES.values():
        module = inspect.getmodule(recipe.run)
        assert recipe.kind in ("shipped", "experiment")
        assert module.__name__.startswith(f"train.recipes.{'shipped' if recipe.kind == 'shipped' else 'experiments'}.")
        assert recipe.settings is module.SETTINGS
        params = list(inspect.signature(recipe.run).parameters.values())
        assert params[0].name == "settings" and params[0].default is module.SETTINGS
        assert "workers" in inspect.signature(recipe.run).parameters
        assert ("models_dir" in inspect.signature(recipe.run).parameters) == (recipe.kind == "shipped")


def _imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        names += [node.module or ""] if isinstance(node, ast.ImportFrom) else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
    return names


def test_no_recipe_imports_another_recipe():
    """A recipe may import the presets (train.recipes.presets) and nothing else of train.recipes."""
    for path in RECIPES_DIR.glob("*/*.py"):
        names = _imported_modules(path)
        assert not any(n.startswith("train.recipes") and n != "train.recipes.presets" for n in names), \
            f"{path.name} imports {names}"
    assert not any(n.startswith("train.recipes") for n in _imported_modules(RECIPES_DIR / "presets.py"))


def _configs(settings) -> list:
    """The config objects (FitConfig, ContrastiveConfig, ...) inside a settings object."""
    return [getattr(settings, f.name) for f in fields(settings) if is_dataclass(getattr(settings, f.name))]


def test_no_two_recipes_share_a_settings_object():
    objects = [id(c) for r in RECIPES.values() for c in [r.settings, *_configs(r.settings)]]
    assert len(objects) == len(set(objects)), "a recipe's settings must be its own objects"


def _mutable_objects(value, seen: dict[int, object]) -> dict[int, object]:
    """Every mutable object reachable from ``value`` (dicts, lists, sets, non-frozen dataclasses), by id."""
    if is_dataclass(value) and not isinstance(value, type):
        if not value.__dataclass_params__.frozen:
            seen[id(value)] = value
        for f in fields(value):
            _mutable_objects(getattr(value, f.name), seen)
    elif isinstance(value, (dict, list, set)):
        seen[id(value)] = value
        for item in (list(value.keys()) + list(value.values())) if isinstance(value, dict) else value:
            _mutable_objects(item, seen)
    elif isinstance(value, tuple):
        for item in value:
            _mutable_objects(item, seen)
    return seen


def test_no_recipe_shares_a_mutable_object_with_another_or_a_preset():
    """The rule of train.recipes.presets: a recipe can change nothing of another recipe's settings, or a preset's."""
    owners: dict[int, str] = {}
    for name, recipe in RECIPES.items():
        for key in _mutable_objects(recipe.settings, {}):
            assert key not in owners, f"recipes {owners[key]!r} and {name!r} share a mutable object"
            owners[key] = name
    for preset in FIT_PRESET_NAMES:
        config = fit_preset(preset)
        assert config == fit_preset(preset) and config is not fit_preset(preset)
        assert not set(_mutable_objects(config, {})) & set(owners), f"preset {preset!r} shares an object with a recipe"
        config.loss_options["changed"] = True                    # changing a copy ...
        config.epochs += 1
        assert fit_preset(preset).loss_options == {} and fit_preset(preset).epochs == config.epochs - 1  # ... not the preset
    with pytest.raises(KeyError, match="no FitConfig preset"):
        fit_preset("nope")


def test_the_learning_curve_measures_the_default_recipe():
    """It is the default recipe's learning curve: if the shipped recipe changes, change it too (deliberately)."""
    assert learning_curve.SETTINGS.fit == default_12lead.SETTINGS.fit


def test_the_contrastive_probes_are_the_downstream_experiments():
    """Its table sits beside the downstream experiment's linear probes: same tasks, fractions, subsamples."""
    c, d = contrastive.SETTINGS, downstream.SETTINGS
    assert (c.tasks, c.fractions, c.subsamples) == (d.tasks, d.fractions, d.subsamples)


def test_active_learning_pretrains_as_the_contrastive_experiment_does():
    """Its encoder is the contrastive experiment's SimCLR (once, on every record, fewer epochs): same recipe otherwise."""
    from dataclasses import replace

    ours, theirs = active_learning.SETTINGS.pretrain, contrastive.SETTINGS.pretrain
    assert ours.epochs < theirs.epochs and replace(ours, epochs=theirs.epochs) == theirs


def test_overrides_and_former_names():
    assert get_recipe("pu") is RECIPES["pu-labels"] and get_recipe("single-lead") is RECIPES["default-1lead"]
    assert set(ALIASES.values()) <= set(RECIPES)
    quick = RECIPES["default-1lead"].resolved(epochs=2, seeds=(0, 1))
    assert (quick.fit.epochs, quick.reference_fit.epochs, quick.final_epochs, quick.seeds) == (2, 2, 12, (0, 1))
    assert RECIPES["default-1lead"].settings.fit.epochs == 20          # the table's settings are untouched
    with pytest.raises(ValueError, match="no seeds"):
        RECIPES["downstream"].resolved(seeds=(1,))
    assert RECIPES["default-12lead"].resolved(seeds=(0,)).seeds == (0,)   # the ensemble's seeds can be chosen
    with pytest.raises(KeyError, match="no recipe"):
        get_recipe("nope")


def test_settings_dump_is_json():
    for recipe in RECIPES.values():
        json.dumps(settings_dict(recipe.settings))


def test_cli_lists_and_shows_recipes(capsys):
    assert main(["recipe", "list"]) == 0
    out = capsys.readouterr().out
    assert out.index("shipped:") < out.index("default-12lead") < out.index("experiment:") < out.index("pu-labels")
    assert main(["recipe", "show", "pu", "--epochs", "3"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "pu-labels" and shown["settings"]["fit"]["epochs"] == 3
    with pytest.raises(SystemExit):
        main(["recipe", "run", "downstream", "--seeds", "1"])
    with pytest.raises(SystemExit):
        main(["recipe", "run", "pu-labels", "--models-dir", "x"])


def test_cli_runs_a_recipe_with_its_resolved_settings(tmp_path, monkeypatch, capsys):
    from dataclasses import replace

    calls = []

    def fake_run(settings, *, work=None, docs=None, data_dir=None, shared=None, workers=None):
        calls.append((settings, work, docs, workers))

    monkeypatch.setitem(RECIPES, "pu-labels", replace(RECIPES["pu-labels"], run=fake_run))
    assert main(["recipe", "run", "pu", "--epochs", "2", "--seeds", "3", "--workers", "1",
                 "--work", str(tmp_path / "w"), "--docs", str(tmp_path / "docs")]) == 0
    settings, work, docs, workers = calls[0]
    assert (settings.fit.epochs, settings.seeds, work, docs, workers) == (2, (3,), tmp_path / "w", tmp_path / "docs", 1)
    assert (tmp_path / "experiments.md").is_file() and "updated" in capsys.readouterr().out


SNAPSHOT = Path(__file__).with_name("recipe_settings.json")


def test_every_recipes_settings_are_the_reviewed_ones():
    """Each recipe's resolved settings, spelled out in recipe_settings.json: a change to one recipe shows
    up here as a change to that recipe only. After a deliberate change, rewrite the file with
    ``python -c "import json; from train.recipes import RECIPES, settings_dict; print(json.dumps({n: settings_dict(r.settings)
    for n, r in RECIPES.items()}, indent=1, sort_keys=True))" > tests/train/recipe_settings.json``."""
    reviewed = json.loads(SNAPSHOT.read_text())
    current = json.loads(json.dumps({n: settings_dict(r.settings) for n, r in RECIPES.items()}, sort_keys=True))
    assert sorted(current) == sorted(reviewed)
    for name in current:
        assert current[name] == reviewed[name], f"the settings of recipe {name!r} changed"
