"""Evaluation against hand-computed AUROC, bootstrap CI and thresholds on a small fixed example."""

from __future__ import annotations

import json

import numpy as np

from train.evaluate import choose_thresholds, evaluate_predictions, markdown_report, plot_report, write_thresholds
from train.metrics import bootstrap_ci, choose_threshold, confusion_metrics

Y = np.array([0, 0, 1, 1, 0, 1])
S = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])


def mann_whitney_auroc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auroc_matches_hand_count():
    # positives 0.35, 0.8, 0.9 vs negatives 0.1, 0.4, 0.2: 8 of 9 pairs ordered -> 8/9
    ev = evaluate_predictions(Y[:, None], S[:, None], np.ones((6, 1), bool), ["X"], n_boot=50)
    assert abs(ev.labels[0]["auroc"] - 8 / 9) < 1e-12


def test_bootstrap_ci_matches_reference_loop():
    point, low, high = bootstrap_ci(Y, S, n_boot=200, seed=7)
    rng = np.random.default_rng(7)
    values = []
    while len(values) < 200:
        idx = rng.integers(0, 6, 6)
        if Y[idx].min() == Y[idx].max():
            continue
        values.append(mann_whitney_auroc(Y[idx], S[idx]))
    assert abs(point - 8 / 9) < 1e-12
    assert np.allclose([low, high], np.percentile(values, [2.5, 97.5]))
    assert low <= point <= high


def test_threshold_and_rates():
    # max F1: threshold 0.35 -> predicted {0.35, 0.4, 0.8, 0.9}: tp 3, fp 1 -> F1 6/7
    assert choose_threshold(Y, S) == 0.35
    rates = confusion_metrics(Y, S, 0.35)
    assert rates["sensitivity"] == 1.0 and abs(rates["specificity"] - 2 / 3) < 1e-12
    assert abs(rates["f1"] - 6 / 7) < 1e-12


def test_macro_micro_skip_labels_without_both_classes(tmp_path):
    y = np.stack([Y, Y[::-1], np.zeros(6, int)], 1)
    s = np.stack([S, S, S], 1)
    mask = np.ones_like(y, bool)
    mask[0, 1] = False  # an unknown entry is left out
    names = ["A", "B", "C"]
    thresholds = choose_thresholds(y, s, mask, names)
    ev = evaluate_predictions(y, s, mask, names, thresholds, n_boot=100)
    assert ev.summary["n_labels_scored"] == 2 and ev.skipped == ["C"]
    b_keep = mask[:, 1]
    expected_b = mann_whitney_auroc(y[b_keep, 1], s[b_keep, 1])
    assert abs(ev.summary["macro_auroc"] - (8 / 9 + expected_b) / 2) < 1e-12
    pooled = mann_whitney_auroc(np.concatenate([y[:, 0], y[b_keep, 1]]), np.concatenate([s[:, 0], s[b_keep, 1]]))
    assert abs(ev.summary["micro_auroc"] - pooled) < 1e-12
    text = markdown_report(ev, title="t")
    assert "labels scored: 2 of 3" in text and "| A |" in text
    files = plot_report(ev, y, s, mask, names, tmp_path)
    assert all(f.stat().st_size > 1000 for f in files)


def test_write_thresholds_into_card_bumps_the_version(tmp_path):
    from ecgcore.bundle import load_bundle, make_card, save_bundle
    from ecgcore.model import create_model

    model = create_model("net1d-tiny", n_classes=2)
    save_bundle(model, make_card("t", model, ["A", "B"], version="1.0.0", training={"data": "d"}), tmp_path)
    weights = (tmp_path / "model.safetensors").read_bytes()
    assert write_thresholds(tmp_path, {"B": 0.3}, source="val split") == "1.0.1"
    saved = json.loads((tmp_path / "card.json").read_text())
    assert saved["thresholds"] == [0.5, 0.3] and saved["version"] == "1.0.1"
    assert saved["training"] == {"data": "d", "thresholds_from": "val split"}
    assert (tmp_path / "model.safetensors").read_bytes() == weights   # weights untouched, hash still valid
    assert load_bundle(tmp_path).card.thresholds == [0.5, 0.3]
    # The same thresholds again change nothing: no new version.
    assert write_thresholds(tmp_path, {"B": 0.3}, source="val split") == "1.0.1"
