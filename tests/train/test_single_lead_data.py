"""CinC 2017 adapter and the single-lead view over 12-lead + single-lead training sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from train.augment import AxisAugmentConfig
from train.data.cinc2017 import cinc2017_examples, stratified_folds
from train.data.single_lead import SingleLeadSet


def test_cinc2017_labels_and_folds(cinc2017_set, shared_data_dir):
    ref = pd.read_csv(shared_data_dir / "cinc2017_subset" / "REFERENCE-v3.csv", header=None, names=["r", "label"])
    ref = ref.set_index("r")["label"]
    af = cinc2017_set.label_columns(["ATRIAL FIBRILLATION"])[0]
    sr = cinc2017_set.label_columns(["SINUS RHYTHM"])[0]
    assert cinc2017_set.n_leads == 1 and cinc2017_set.signals([0]).shape == (1, 1, 5000)
    for i, rid in enumerate(cinc2017_set.meta.record_id):
        label = ref[rid]
        assert cinc2017_set.labels[i, af] == (label == "A")
        assert cinc2017_set.mask[i, af] == (label != "~")           # noisy: AF unknown, not negative
        if label == "N":
            assert cinc2017_set.mask[i, sr] and cinc2017_set.labels[i, sr] == 1
        if label in ("O", "~"):
            assert not cinc2017_set.mask[i, sr]                       # "other" mixes sinus and non-sinus
    assert set(cinc2017_set.meta.fold) <= set(range(1, 10))


def test_stratified_folds_balance_each_class():
    labels = pd.Series(["A"] * 18 + ["N"] * 90, index=[f"r{i}" for i in range(108)])
    folds = stratified_folds(labels)
    counts = pd.crosstab(labels, folds)
    assert counts.loc["A"].tolist() == [2] * 9 and counts.loc["N"].tolist() == [10] * 9
    assert folds.equals(stratified_folds(labels))                   # seeded


def test_missing_reference_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="REFERENCE-v3.csv"):
        next(cinc2017_examples(tmp_path))


def test_single_lead_view_combines_sets(small_set, cinc2017_set):
    view = SingleLeadSet([small_set, cinc2017_set], axis=AxisAugmentConfig())
    assert len(view) == len(small_set) + len(cinc2017_set) and view.n_leads == 1
    assert view.manifest["leads"] == ["I"] and view.labels.shape == (len(view), 150)
    idx = np.array([0, 1, len(small_set), len(small_set) + 5])
    x = view.signals(idx)
    assert x.shape == (4, 1, 5000)
    # 12-lead records: real lead I re-z-scored; single-lead records: unchanged.
    lead_i = small_set.signals([0])[0, 0]
    assert np.allclose(x[0, 0], (lead_i - lead_i.mean()) / lead_i.std(), atol=1e-3)
    assert np.array_equal(x[2:], cinc2017_set.signals([0, 5]))
    g = torch.Generator().manual_seed(0)
    y = view.training_signals(np.arange(len(small_set)), g)
    assert not np.allclose(y, view.signals(np.arange(len(small_set))))  # virtual leads in training
    assert np.array_equal(view.training_signals(idx[2:], g), x[2:])
    plain = SingleLeadSet([small_set, cinc2017_set])
    assert np.array_equal(plain.training_signals(idx, g), plain.signals(idx))
    assert view.indices(sources=["cinc2017"]).min() == len(small_set)


def test_single_lead_view_refuses_mixed_vocabularies(small_set, cinc2017_set):
    other = cinc2017_set.with_labels(cinc2017_set.labels)
    other.label_names = tuple(reversed(cinc2017_set.label_names))
    with pytest.raises(ValueError, match="vocabularies"):
        SingleLeadSet([small_set, other])
