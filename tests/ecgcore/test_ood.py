"""Out-of-distribution checks: each rule on constructed records, the embedding score on real ones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ecgcore.bundle import update_card
from ecgcore.io import read
from ecgcore.ood import (
    EmbeddingReference,
    check_distribution,
    fit_embedding_reference,
    fit_reference,
    rescaled_distances,
    typical_amplitude_mv,
)
from ecgcore.predict import Predictor
from tests.ecgcore.helpers import ptbxl_headers, tiny_bundle


@pytest.fixture(scope="module")
def records():
    return [read(h) for h in ptbxl_headers(24)]


@pytest.fixture(scope="module")
def predictor_with_reference(tmp_path_factory: pytest.TempPathFactory, records) -> Predictor:
    path = tiny_bundle(tmp_path_factory.mktemp("ood") / "tiny", n_networks=2)
    predictor = Predictor(path, plan_layouts=False)
    emb = predictor.embeddings(np.stack([predictor.prepare(r) for r in records]))
    train, held = emb[:16], emb[16:]
    ref = fit_embedding_reference(train, np.zeros(1))
    held_d = ref.distance(held)
    ref = fit_embedding_reference(train, held_d)
    update_card(path, ood=fit_reference(fs_hz=[r.fs for r in records],
                                        amplitudes_mv=[typical_amplitude_mv(r.signal) for r in records], embedding=ref))
    return Predictor(path, plan_layouts=False)


def test_embeddings_are_the_pooled_features(predictor_with_reference: Predictor, records) -> None:
    import torch

    x = predictor_with_reference.prepare(records[0])[np.newaxis]
    with torch.no_grad():
        expected = predictor_with_reference.model.forward_features(torch.from_numpy(x)).mean(-1).numpy()
    np.testing.assert_allclose(predictor_with_reference.embeddings(x), expected, rtol=1e-5, atol=1e-6)


def test_a_training_like_record_passes(predictor_with_reference: Predictor, records) -> None:
    check = check_distribution(records[2], predictor_with_reference)
    assert check.in_distribution, check.warnings
    assert 0 <= check.score < 0.99 and check.amplitude_mv == pytest.approx(typical_amplitude_mv(records[2].signal))


def test_a_wrong_gain_is_flagged(predictor_with_reference: Predictor, records) -> None:
    scaled = replace(records[3], signal=records[3].signal * 8)  # a gain of 8 instead of 1
    check = check_distribution(scaled, predictor_with_reference)
    assert any("wrong units" in w for w in check.warnings)


def test_slow_short_records_are_flagged(predictor_with_reference: Predictor, records) -> None:
    from scipy.signal import resample_poly

    r = records[4]
    slow = replace(r, signal=resample_poly(r.signal, 1, 4, axis=1).astype(np.float32)[:, :1000], fs=125.0)
    check = check_distribution(slow, predictor_with_reference)
    assert any("125 Hz" in w for w in check.warnings)
    assert any("8.0 s recorded" in w for w in check.warnings)


def test_noise_is_far_from_the_training_embeddings(predictor_with_reference: Predictor, records) -> None:
    rng = np.random.default_rng(0)
    r = records[5]
    noise = replace(r, signal=(rng.standard_normal(r.signal.shape) * 0.5).astype(np.float32))
    check = check_distribution(noise, predictor_with_reference)
    assert check.score >= 0.99 and any("unlike the training data" in w for w in check.warnings)


def test_reference_maths() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 8)) * np.array([5, 3, 1, 1, 1, 1, 1, 1.0])
    ref = fit_embedding_reference(x, np.linspace(0, 10, 50), n_components=2)
    assert ref.components.shape == (2, 8) and ref.scales[0] == pytest.approx(5, rel=0.15)
    assert ref.score(np.array([-1.0, 5.0, 11.0])).tolist() == [0.0, pytest.approx(0.5, abs=0.01), 1.0]
    again = EmbeddingReference.from_dict(ref.to_dict())
    np.testing.assert_allclose(again.distance(x[:3]), ref.distance(x[:3]), rtol=1e-4)
    np.testing.assert_allclose(rescaled_distances(np.array([2.0, 4.0]), np.array([1.0, 2.0, 3.0]), np.array([4.0])),
                               [4.0, 8.0])
    with pytest.raises(ValueError, match="n >= 3"):
        fit_embedding_reference(x[:2], np.ones(3))


def test_cards_without_a_reference_only_check_duration(tmp_path: Path, records) -> None:
    predictor = Predictor(tiny_bundle(tmp_path / "plain"), plan_layouts=False)
    check = check_distribution(records[0], predictor)
    assert check.in_distribution and check.score is None
