"""Per-label calibration: each map recovers a known miscalibration, the choice is cross-fitted, and a
card's maps round-trip to the Predictor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit, logit

from ecgcore.bundle import load_card, update_card
from ecgcore.calibration import (
    PROB_FLOOR,
    Calibrator,
    LabelCalibration,
    choose_calibration,
    expected_calibration_error,
    fit_calibration,
    log_loss,
    reliability_bins,
)
from ecgcore.predict import Predictor
from tests.ecgcore.helpers import tiny_bundle


def _overconfident(n: int = 4000, sharpen: float = 2.5, shift: float = 0.0, seed: int = 0):
    """True probability sigmoid(z); the 'network' reports sigmoid(sharpen * z + shift)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.0, 1.2, n)
    y = (rng.random(n) < expit(z)).astype(float)
    return y, expit(sharpen * z + shift)


def test_temperature_recovers_the_sharpening() -> None:
    y, p = _overconfident(sharpen=2.5)
    cal = fit_calibration("temperature", y, p)
    assert cal.params["temperature"] == pytest.approx(2.5, rel=0.1)
    assert expected_calibration_error(y, cal.apply(p)) < 0.5 * expected_calibration_error(y, p)


def test_platt_recovers_slope_and_intercept() -> None:
    y, p = _overconfident(sharpen=2.0, shift=1.5, seed=1)
    cal = fit_calibration("platt", y, p)
    # p = sigmoid(2 z + 1.5)  =>  z = (logit p - 1.5) / 2: slope 0.5, intercept -0.75
    assert cal.params["slope"] == pytest.approx(0.5, abs=0.06)
    assert cal.params["intercept"] == pytest.approx(-0.75, abs=0.12)


def test_isotonic_is_monotone_and_never_certain() -> None:
    y, p = _overconfident(seed=2)
    cal = fit_calibration("isotonic", y, p)
    grid = np.linspace(0, 1, 501)
    out = cal.apply(grid)
    assert np.all(np.diff(out) >= 0)
    assert out.min() >= PROB_FLOOR and out.max() <= 1 - PROB_FLOOR


def test_choice_is_cross_fitted_and_helps_on_held_out_groups() -> None:
    y, p = _overconfident(seed=3)
    groups = np.arange(len(y)) % 5
    choice = choose_calibration(y, p, groups)
    assert choice.calibration.method != "identity"
    assert set(choice.cross_fitted_log_loss) == {"identity", "temperature", "platt", "isotonic"}
    best = min(choice.cross_fitted_log_loss.values())
    assert choice.cross_fitted_log_loss[choice.calibration.method] == best < choice.cross_fitted_log_loss["identity"]
    assert log_loss(y, choice.cross_fitted) == pytest.approx(best)
    assert expected_calibration_error(y, choice.cross_fitted) < expected_calibration_error(y, p)


def test_a_calibrated_label_keeps_identity() -> None:
    rng = np.random.default_rng(4)
    p = rng.uniform(0.02, 0.98, 3000)
    y = (rng.random(3000) < p).astype(float)
    choice = choose_calibration(y, p, np.arange(3000) % 5, methods=("identity", "isotonic"))
    # isotonic's steps fit noise: on held-out groups the raw, already calibrated output is better
    assert choice.calibration.method == "identity"


def test_one_class_labels_are_left_alone() -> None:
    choice = choose_calibration(np.zeros(50), np.full(50, 0.2), np.arange(50) % 5)
    assert choice.calibration.method == "identity"
    with pytest.raises(ValueError, match="positives and negatives"):
        fit_calibration("platt", np.zeros(10), np.full(10, 0.3))


def test_reliability_bins_and_ece_on_a_worked_example() -> None:
    y = np.array([0, 0, 1, 1, 1, 0, 1, 1, 1, 1], float)
    p = np.array([0.05, 0.05, 0.05, 0.05, 0.55, 0.55, 0.95, 0.95, 0.95, 0.95])
    bins = reliability_bins(y, p)
    assert [(b["bin"], b["count"], b["observed"]) for b in bins] == [(0, 4, 0.5), (5, 2, 0.5), (9, 4, 1.0)]
    # 0.4 * |0.5 - 0.05| + 0.2 * |0.5 - 0.55| + 0.4 * |1 - 0.95|
    assert expected_calibration_error(y, p) == pytest.approx(0.4 * 0.45 + 0.2 * 0.05 + 0.4 * 0.05)


def test_bad_maps_are_refused_with_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="accepted: identity, temperature, platt, isotonic"):
        LabelCalibration("beta")
    with pytest.raises(ValueError, match=r"needs \['intercept'\]"):
        LabelCalibration("platt", {"slope": 1.0})
    with pytest.raises(ValueError, match="does not have"):
        Calibrator(["A"], {"B": {"method": "identity"}})


def test_card_calibration_reaches_the_predictor(tmp_path: Path) -> None:
    path = tiny_bundle(tmp_path / "cal")
    maps = {"NORMAL ECG": LabelCalibration("platt", {"slope": 0.5, "intercept": -1.0}).to_dict(),
            "ATRIAL FIBRILLATION": LabelCalibration("temperature", {"temperature": 3.0}).to_dict()}
    update_card(path, calibration=maps)
    assert load_card(path).calibration == maps
    predictor = Predictor(path, plan_layouts=False)
    x = np.random.default_rng(0).standard_normal((3, 12, 5000)).astype(np.float32)
    raw = predictor.raw_probabilities(x)
    calibrated = predictor.probabilities(x)
    np.testing.assert_allclose(calibrated[:, 0], expit(0.5 * logit(np.clip(raw[:, 0], PROB_FLOOR, 1 - PROB_FLOOR)) - 1.0))
    np.testing.assert_allclose(calibrated[:, 1], expit(logit(np.clip(raw[:, 1], PROB_FLOOR, 1 - PROB_FLOOR)) / 3.0))
    np.testing.assert_array_equal(calibrated[:, 2:], raw[:, 2:])
    with pytest.raises(Exception, match="does not have"):
        update_card(path, calibration={"NOT A LABEL": {"method": "identity"}})
