"""Fit the limb-lead reversal model of ``ecgcore.reversal`` on the dev records (issue 20).

    python -m scripts.fit_reversal_model [--data DIR] [--no-write]

One multinomial logistic regression over {none, LA/RA, LA/LL, RA/LL} (scikit-learn StandardScaler +
LogisticRegression, C=1) on ``ecgcore.reversal.limb_model_features`` of PTB-XL subset records 1-200
(dev, file order; ``evaluate_assessment.DEV_RECORDS``): each clean record and its
``simulate_reversal`` LA/RA, LA/LL and RA/LL, measured by ``ecgcore.measure`` as ``assess`` does.
Records 201- are never read here: they are the held-out records of scripts/evaluate_assessment.py.

Prints the out-of-fold (5-fold, grouped by record) sensitivity and clean false positives per class
and threshold (the thresholds of ``ReversalParams`` are read off this table), and the fitted
coefficients as the Python literal ``LIMB_MODEL`` of ecgcore/reversal.py; writes both to
bench/results/reversal_model_fit.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from ecgcore.config import REPO_ROOT
from ecgcore.io import read
from ecgcore.measurements import measure
from ecgcore.reversal import LIMB_MODEL_CLASSES, LIMB_MODEL_FEATURES, limb_model_features, simulate_reversal
from scripts.evaluate_assessment import DEV_RECORDS
from train.paths import SHARED_DATA_DIR

OUT = REPO_ROOT / "bench" / "results" / "reversal_model_fit.json"
C = 1.0
THRESHOLDS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def dev_features(data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, class index and record index of every dev case with features."""
    table = pd.read_csv(data / "ptbxl_subset" / "ptbxl_database.csv").iloc[:DEV_RECORDS]
    rows, labels, groups = [], [], []
    for j, row in enumerate(tqdm(table.itertuples(index=False), total=len(table), desc="dev records", unit="rec")):
        record = read((data / "ptbxl_subset" / row.filename_hr).with_suffix(".hea"), record_name=str(int(row.ecg_id)),
                      allow_flat_leads=True)
        for k, kind in enumerate(LIMB_MODEL_CLASSES):
            case = record if kind == "none" else simulate_reversal(record, kind)
            features = limb_model_features(measure(case))
            if features is None:
                continue
            rows.append([features[name] for name in LIMB_MODEL_FEATURES])
            labels.append(k)
            groups.append(j)
    return np.array(rows), np.array(labels), np.array(groups)


def _model() -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    probabilities = np.zeros((len(y), len(LIMB_MODEL_CLASSES)))
    for train, test in GroupKFold(5).split(x, y, groups):
        probabilities[test] = _model().fit(x[train], y[train]).predict_proba(x[test])
    return probabilities


def threshold_table(probabilities: np.ndarray, y: np.ndarray) -> list[dict]:
    """Per reversal class and threshold: a call is the class being the most probable and above the threshold."""
    rows = []
    for k, kind in enumerate(LIMB_MODEL_CLASSES):
        if kind == "none":
            continue
        for threshold in THRESHOLDS:
            called = (probabilities.argmax(axis=1) == k) & (probabilities[:, k] > threshold)
            rows.append({"class": kind, "threshold": threshold, "sensitivity": float(called[y == k].mean()),
                         "clean_false_positives": int(called[y == 0].sum()), "clean_records": int((y == 0).sum())})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA_DIR)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x, y, groups = dev_features(args.data)
    grid = threshold_table(out_of_fold(x, y, groups), y)
    print(pd.DataFrame(grid).to_string(index=False))
    fitted = _model().fit(x, y)
    scaler, logistic = fitted.named_steps["standardscaler"], fitted.named_steps["logisticregression"]
    model = {"mean": [round(float(v), 6) for v in scaler.mean_], "scale": [round(float(v), 6) for v in scaler.scale_],
             "coef": [[round(float(v), 6) for v in row] for row in logistic.coef_],
             "intercept": [round(float(v), 6) for v in logistic.intercept_]}
    assert [LIMB_MODEL_CLASSES[int(c)] for c in logistic.classes_] == list(LIMB_MODEL_CLASSES)
    print("LIMB_MODEL =", json.dumps(model))
    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps({"records": f"PTB-XL subset 1-{DEV_RECORDS}", "cases": len(y), "C": C,
                                   "classes": list(LIMB_MODEL_CLASSES), "features": list(LIMB_MODEL_FEATURES),
                                   "out_of_fold": grid, "model": model}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
