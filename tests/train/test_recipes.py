"""The recipes end to end on small real sets with a tiny network (CI-sized): they train, evaluate
out-of-fold, write their report, and the single-lead recipe ships a bundle that predicts on a real
AliveCor recording. Each test passes the recipe a tiny copy of its settings (nothing is patched)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pytest

from ecgcore.bundle import load_bundle
from ecgcore.io import read
from ecgcore.predict import Predictor
from train.experiments import cv_splits, fraction_of_training
from train.recipes.experiments import downstream, learning_curve, pu_labels
from train.recipes.shipped import default_1lead, default_12lead


def _tiny(config, **extra):
    return replace(config, model="net1d-tiny", batch_size=16, **extra)


@pytest.mark.slow
def test_pu_recipe_writes_its_table(small_set, tmp_path, caplog):
    settings = replace(pu_labels.SETTINGS, fit=_tiny(pu_labels.SETTINGS.fit, epochs=1), hidden_fractions=(0.5,),
                       seeds=(0,), n_boot=20)
    results = pu_labels.run(settings, work=tmp_path / "work", docs=tmp_path / "docs", data_dir=small_set.path,
                            workers=1)
    assert {c["metric"] for c in results["comparisons"]} == {"auroc", "auprc"}
    row = results["comparisons"][0]
    assert 0 <= row["a"] <= 1 and 0 <= row["b"] <= 1 and row["diff_ci"][0] <= row["diff"] <= row["diff_ci"][1]
    text = (tmp_path / "docs" / "pu_labels.md").read_text()
    assert "| 50% | all labels | AUROC |" in text and (tmp_path / "docs" / "pu_labels.png").stat().st_size > 1000
    oof = np.load(tmp_path / "work" / "oof.npz")
    assert oof["bce_h50"].shape == oof["pu_h50"].shape == (1, len(oof["held"]), len(results["labels"]))
    calibration = {(c["loss"], c["hidden"]): c for c in results["calibration"]}
    assert set(calibration) == {("bce", 0.0), ("bce", 0.5), ("pu", 0.5)}
    assert "predicted / true positives" in text
    # A second run with the same configuration reuses the saved predictions instead of training.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=pu_labels.__name__):
        again = pu_labels.run(settings, work=tmp_path / "work", docs=tmp_path / "docs", data_dir=small_set.path,
                              workers=1)
    assert "reusing" in caplog.text and again["comparisons"][0]["a"] == row["a"]


@pytest.mark.slow
def test_learning_curve_recipe_reports_gains_per_fraction(small_set, tmp_path):
    settings = replace(learning_curve.SETTINGS, fit=_tiny(learning_curve.SETTINGS.fit, epochs=1), fractions=(1.0, 0.5),
                       seeds=(0, 1), n_boot=20)
    results = learning_curve.run(settings, work=tmp_path / "work", docs=tmp_path / "docs", data_dir=small_set.path,
                                 workers=1)
    points = results["points"]
    assert [p["fraction"] for p in points] == [0.5, 1.0]
    assert points[0]["n_ptbxl_train_per_fold"] < points[1]["n_ptbxl_train_per_fold"]
    for p in points:
        assert len(p["macro_auroc_per_seed"]) == 2
        assert p["macro_auroc"] == pytest.approx(np.mean(p["macro_auroc_per_seed"]))
        assert p["macro_auroc_ci"][0] <= p["macro_auroc_ci"][1]
        assert 0 <= p["ensemble_macro_auroc"] <= 1
    gain = next(g for g in results["gains"] if g["metric"] == "macro_auroc")
    assert gain["gain"] == pytest.approx(points[1]["macro_auroc"] - points[0]["macro_auroc"])
    # Seed 0 shares the default recipe's folder names; other seeds get their own.
    assert (tmp_path / "work" / "cv50-0" / "last.pt").is_file()
    assert (tmp_path / "work" / "cv100-4-s1" / "last.pt").is_file()
    text = (tmp_path / "docs" / "learning_curve.md").read_text()
    assert "per doubling" in text and "2-seed ensemble" in text and (tmp_path / "docs" / "learning_curve.png").stat().st_size > 1000


def test_learning_curve_seed_zero_is_the_default_recipes_cross_validation(small_set, tmp_path):
    labels = ["NORMAL ECG", "SINUS RHYTHM"]
    shipped = default_12lead.fold_fits(default_12lead.SETTINGS, small_set, labels, tmp_path)
    curve = learning_curve.fold_fits(learning_curve.SETTINGS, small_set, labels, tmp_path)
    # the same fits in the same folders (which records a fraction keeps does not matter at 100%)
    assert [(j.fold, j.config) for j in curve if j.fraction == 1.0] == [(j.fold, j.config) for j in shipped]
    assert default_12lead.SETTINGS.seeds == learning_curve.SETTINGS.seeds
    assert len(curve) == len(learning_curve.SETTINGS.fractions) * len(shipped)


def test_fraction_of_training_is_seeded_and_keeps_other_sources(small_set):
    ts = small_set
    ptb = ts.indices(sources=["ptbxl"])
    for fold, (train, _) in enumerate(cv_splits(ts)):
        half = fraction_of_training(ts, train, 0.5, seed=fold)
        assert set(half) <= set(train) and set(np.setdiff1d(train, ptb)) <= set(half)
        assert np.isin(half, ptb).sum() == max(8, round(0.5 * np.isin(train, ptb).sum()))
        assert np.array_equal(fraction_of_training(ts, train, 0.5, seed=fold), half)
        assert not np.array_equal(fraction_of_training(ts, train, 0.5, seed=fold + 1), half)
        assert np.array_equal(np.sort(fraction_of_training(ts, train, 1.0, seed=fold)), train)


def test_doubling_slope_is_the_gain_per_doubling():
    assert learning_curve.doubling_slope(np.array([100, 200, 400]), np.array([0.70, 0.72, 0.74])) == pytest.approx(0.02)


def _tiny_single_lead(**extra):
    settings = default_1lead.SETTINGS.with_epochs(1)
    return replace(settings, fit=_tiny(settings.fit, model_overrides={"in_channels": 1}),
                   reference_fit=_tiny(settings.reference_fit), final_epochs=1, seeds=(0,), n_boot=20, **extra)


def _run_single_lead(small_set, cinc2017_set, tmp_path):
    return default_1lead.run(_tiny_single_lead(), work=tmp_path / "work", docs=tmp_path / "docs",
                             models_dir=tmp_path / "models", data_12lead=small_set.path,
                             data_cinc2017=cinc2017_set.path, workers=1)


@pytest.mark.slow
def test_single_lead_recipe_ships_a_working_bundle(small_set, cinc2017_set, tmp_path, shared_data_dir, monkeypatch):
    # A tiny model on 60 recordings validates nothing on the device hold-out; pretend one label passed
    # to exercise the shipping path (the rule itself is tested below and in the next test).
    monkeypatch.setattr(default_1lead, "labels_with_skill", lambda per_label, labels: ["SINUS RHYTHM"])
    results = _run_single_lead(small_set, cinc2017_set, tmp_path)
    assert results["chosen_variant"] in ("lead-i", "axis")
    assert set(results["per_label"]) == {"12-lead", "lead-i", "axis"}
    bundle = load_bundle(tmp_path / "models" / default_1lead.NAME)
    assert bundle.card.input_leads == ["I"] and bundle.card.default and bundle.card.version == "1.0.0"
    assert bundle.card.training["data"]["sources"]["cinc2017"] == len(cinc2017_set)
    assert bundle.card.trained_labels == ["SINUS RHYTHM"]
    record = read(shared_data_dir / "cinc2017_subset" / "training2017" / "A00001.hea")
    prediction = Predictor(bundle).predict(record)
    assert [f.label for f in prediction.findings] == ["SINUS RHYTHM"] and 0 <= prediction.findings[0].probability <= 1
    assert set(results["device_check"]) == set(bundle.card.training["trained_on"])
    assert "Device check" in (tmp_path / "docs" / "single_lead.md").read_text()
    # The 12-lead reference of part A is this recipe's own fit, in its own folder.
    assert (tmp_path / "work" / "12lead-s0-f0" / "bundle").is_dir()
    # Running the recipe again reuses every fit and writes the same bundle: its version stays.
    _run_single_lead(small_set, cinc2017_set, tmp_path)
    assert load_bundle(tmp_path / "models" / default_1lead.NAME).card.version == "1.0.0"


@pytest.mark.slow
def test_single_lead_recipe_ships_nothing_without_a_validated_label(small_set, cinc2017_set, tmp_path, monkeypatch,
                                                                     caplog):
    monkeypatch.setattr(default_1lead, "labels_with_skill", lambda per_label, labels: [])
    with caplog.at_level(logging.WARNING, logger=default_1lead.__name__):
        _run_single_lead(small_set, cinc2017_set, tmp_path)
    assert not (tmp_path / "models" / default_1lead.NAME).exists()
    assert "NOT written" in caplog.text


@pytest.mark.slow
def test_downstream_recipe_compares_four_methods(small_set, tmp_path):
    settings = downstream.SETTINGS.with_epochs(1)
    settings = replace(settings, pretrain=_tiny(settings.pretrain), n_boot=20)
    results = downstream.run(settings, work=tmp_path / "work", docs=tmp_path / "docs", data_dir=small_set.path,
                             workers=1)
    assert [(r["fraction"], r["method"]) for r in results["rows"]] == [
        (f, m) for f in downstream.SETTINGS.fractions for m in downstream.METHODS]
    for row in results["rows"]:
        assert np.isfinite(row["age"]["mae"]) and row["age"]["n"] > 0
    assert {(d["a"], d["b"]) for d in results["differences"]} == set(downstream.COMPARISONS)
    assert "fine-tune − scratch" in (tmp_path / "docs" / "downstream.md").read_text()
    saved = json.loads((tmp_path / "docs" / "downstream.json").read_text())
    assert saved["pretraining_labels"] and downstream.HELD_OUT_LABEL not in saved["pretraining_labels"]


def test_labels_without_skill_are_hidden():
    per_label = {"A": {"auroc": 0.9, "auroc_ci": [0.8, 0.95]}, "B": {"auroc": 0.6, "auroc_ci": [0.45, 0.75]},
                 "C": {"auroc": 0.7}}
    assert default_1lead.labels_with_skill(per_label, ["A", "B", "C", "D"]) == ["A"]


@pytest.mark.slow
def test_default_12lead_recipe_ships_a_calibrated_ensemble(small_set, tmp_path, shared_data_dir):
    """Seeds x folds, the ensemble bundle, calibration maps, policy thresholds, OOD reference and the
    external check, end to end with a tiny network; the Predictor serves what was shipped."""
    settings = replace(default_12lead.SETTINGS, fit=_tiny(default_12lead.SETTINGS.fit, epochs=1), seeds=(0, 1), n_boot=20)
    bundle_dir = default_12lead.run(settings, models_dir=tmp_path / "models", work=tmp_path / "work",
                                    data_dir=small_set.path, shared=shared_data_dir,
                                    external_dir=tmp_path / "external", docs=tmp_path / "docs", workers=1)
    bundle = load_bundle(bundle_dir)
    card = bundle.card
    assert card.n_networks == 2 and len(bundle.networks) == 2
    per_label = card.metrics["per_label"]
    assert per_label and set(per_label) <= set(card.trained_labels)
    for label, row in per_label.items():
        assert row["calibration"]["method"] in ("identity", "temperature", "platt", "isotonic")
        threshold = card.thresholds[card.labels.index(label)]
        if row["threshold"] is None:  # the policy's "never shown positive"
            assert threshold == 1.0 and row["threshold_reason"]
        else:
            assert threshold == row["threshold"] and row["sensitivity_ci"][0] <= row["sensitivity"] <= row["sensitivity_ci"][1]
    assert set(card.calibration) <= set(card.trained_labels)
    assert card.metrics["threshold_policy"]["min_specificity"] == 0.90
    assert {"ece_before", "ece_after"} <= set(card.metrics["summary"]["calibration"])
    assert card.ood["embedding"]["components"] and card.ood["fs_hz"] == [400.0, 500.0]
    assert card.metrics["external"]["summary"]["n_records"] == 56  # of 59: three records carry no code we map
    assert (bundle_dir / "evaluation" / "reliability.png").stat().st_size > 1000
    doc = (tmp_path / "docs" / "calibration_and_thresholds.md").read_text()
    assert "before" in doc and "## External check" in doc and "specificity >= 0.90" in doc
    oof = np.load(tmp_path / "work" / "oof.npz")
    assert oof["seed_probs"].shape[0] == 2 and np.allclose(oof["probs"], oof["seed_probs"].mean(0))
    record = read(shared_data_dir / "ptbxl_subset" / "records500" / "00000" / "00001_hr.hea")
    prediction = Predictor(bundle_dir).predict(record)
    assert prediction.findings and all(0 <= f.probability <= 1 for f in prediction.findings)
