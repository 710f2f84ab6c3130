"""The acquisition score on fixed examples whose answers are worked out by hand."""

import numpy as np
import pytest

from ecgcore.active_learning import (
    acquisition_order,
    acquisition_score,
    diversity,
    label_uncertainty,
    record_uncertainty,
    select_batch,
)
from ecgcore.errors import ECGValidationError


def test_label_uncertainty_is_the_odds_ratio_to_the_threshold():
    p = np.array([[0.5, 0.2, np.nan], [0.09, 0.8, 0.5]])
    t = np.array([0.5, 0.5, 0.05])
    u = label_uncertainty(p, t)
    # odds 0.25 vs threshold odds 1 -> 0.25; 0.09 vs 0.5: (0.09/0.91) / 1; 0.5 vs 0.05: (0.05/0.95) / 1
    np.testing.assert_allclose(u[0, :2], [1.0, 0.25])
    assert np.isnan(u[0, 2])
    np.testing.assert_allclose(u[1], [0.09 / 0.91, 0.25, 0.05 / 0.95])


def test_record_uncertainty_mean_and_max_skip_unscored_labels():
    p = np.array([[0.5, 0.2, np.nan], [np.nan, np.nan, np.nan]])
    t = np.array([0.5, 0.5, 0.5])
    np.testing.assert_allclose(record_uncertainty(p, t, aggregate="mean"), [0.625, 0.0])
    np.testing.assert_allclose(record_uncertainty(p, t, aggregate="max"), [1.0, 0.0])


def test_diversity_is_half_the_centred_cosine_distance_to_the_nearest_reviewed():
    candidates = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    reviewed = np.array([[0.0, -1.0]])  # mean of all four rows is (0, 0): centring changes nothing
    np.testing.assert_allclose(diversity(candidates, reviewed), [0.5, 1.0, 0.5])
    np.testing.assert_allclose(diversity(candidates, np.zeros((0, 2))), [1.0, 1.0, 1.0])


def test_acquisition_score_weighs_uncertainty_and_diversity():
    candidates = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    reviewed = np.array([[0.0, -1.0]])
    u = np.array([0.2, 0.4, 1.0])
    np.testing.assert_allclose(acquisition_score(u, candidates, reviewed, diversity_weight=0.5), [0.35, 0.7, 0.75])
    np.testing.assert_allclose(acquisition_score(u, candidates, reviewed, diversity_weight=0.0), u)


def test_greedy_batch_skips_a_near_copy_of_its_first_pick():
    # Records 0 and 1 are near-copies and the most uncertain; record 2 lies elsewhere.
    candidates = np.array([[1.0, 0.0], [1.0, 0.01], [-1.0, 0.0], [0.0, 1.0]])
    u = np.array([0.9, 0.85, 0.5, 0.1])
    assert select_batch(u, batch_size=2, diversity_weight=0.0).tolist() == [0, 1]
    # With diversity: after record 0 is taken, record 1's delta drops to ~0, so record 2 wins.
    assert select_batch(u, candidates, None, batch_size=2, diversity_weight=0.5).tolist() == [0, 2]


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ECGValidationError, match="aggregate must be one of"):
        record_uncertainty(np.array([[0.5]]), np.array([0.5]), aggregate="median")
    with pytest.raises(ECGValidationError, match="thresholds must lie in"):
        label_uncertainty(np.array([[0.5]]), np.array([1.5]))
    with pytest.raises(ECGValidationError, match="diversity_weight must lie in"):
        select_batch(np.array([0.5]), np.array([[1.0]]), None, batch_size=1, diversity_weight=2.0)
    with pytest.raises(ECGValidationError, match="needs the candidates' embeddings"):
        select_batch(np.array([0.5, 0.2]), batch_size=1, diversity_weight=0.5)


def test_acquisition_order_is_greedy_at_the_head_and_by_score_after():
    candidates = np.array([[1.0, 0.0], [1.0, 0.01], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    u = np.array([0.9, 0.85, 0.5, 0.1, 0.0])
    full = acquisition_order(u, candidates, None, diversity_weight=0.5, greedy_rows=5)
    assert sorted(full.tolist()) == list(range(5))
    assert full.tolist() == select_batch(u, candidates, None, batch_size=5, diversity_weight=0.5).tolist()
    # With a head of 2, the head comes from the two best static scores (records 0 and 1: all delta 1
    # when nothing is reviewed) and the tail keeps the static order.
    assert acquisition_order(u, candidates, None, diversity_weight=0.5, greedy_rows=2).tolist() == [0, 1, 2, 3, 4]
    assert acquisition_order(u, diversity_weight=0.0).tolist() == [0, 1, 2, 3, 4]
