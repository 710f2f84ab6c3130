"""Predictor: ranking, thresholds, untrained labels, batch = single, folder scoring with bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgcore.errors import LabelError, LeadError
from ecgcore.io import read
from ecgcore.predict import Predictor
from ecgcore.preprocessing import preprocess
from tests.ecgcore.helpers import TINY_LABELS, ptbxl_headers, tiny_bundle


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    return Predictor(tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny"))


@pytest.fixture(scope="module")
def records(shared_data_dir: Path) -> list:
    return [read(h) for h in ptbxl_headers(6)]


def test_probabilities_are_sigmoid_of_the_network_on_preprocessed_input(predictor: Predictor, records: list) -> None:
    record = records[0]
    with torch.inference_mode():
        expected = torch.sigmoid(predictor.model(torch.from_numpy(preprocess(record))[None])).numpy()[0]
    prediction = predictor.predict(record, include_untrained=True)
    for i, label in enumerate(TINY_LABELS):
        assert prediction.probability(label) == pytest.approx(float(expected[i]), abs=1e-6)


def test_layout_plan_is_measured_once_and_scores_like_the_eager_network(
        predictor: Predictor, records: list) -> None:
    batch = np.stack([preprocess(r) for r in records[:3]])
    planned = predictor.probabilities(batch)
    assert predictor.plan_measurement is not None
    network = predictor.inference_model(3)
    assert network is not predictor.model and predictor.inference_model(1) is network  # one plan
    eager = Predictor(predictor.bundle, plan_layouts=False)
    assert eager.inference_model(3) is eager.model and eager.plan_measurement is None
    np.testing.assert_allclose(planned, eager.probabilities(batch), rtol=0, atol=1e-6)


def test_ranking_positives_first_then_probability(predictor: Predictor, records: list) -> None:
    for record in records:
        prediction = predictor.predict(record, include_untrained=True)
        findings = prediction.findings
        assert [f.positive for f in findings] == sorted((f.positive for f in findings), reverse=True)
        for group in (True, False):
            probs = [f.probability for f in findings if f.positive is group]
            assert probs == sorted(probs, reverse=True)
        for f in findings:  # at or above threshold, unless a consistency rule demoted it (and said so)
            demoted = any(note.startswith(f.label + " not called positive") for note in prediction.notes)
            assert f.positive == (f.probability >= f.threshold and not demoted)


def test_untrained_labels_hidden_unless_asked(predictor: Predictor, records: list) -> None:
    shown = {f.label for f in predictor.predict(records[0]).findings}
    assert shown == set(TINY_LABELS[:3])
    everything = predictor.predict(records[0], include_untrained=True).findings
    assert {f.label for f in everything} == set(TINY_LABELS)
    assert [f.trained for f in everything if f.label == TINY_LABELS[3]] == [False]


def test_batch_equals_one_by_one(predictor: Predictor, records: list) -> None:
    batch = predictor.predict_batch(records)
    for record, prediction in zip(records, batch):
        single = predictor.predict(record)
        assert [f.label for f in single.findings] == [f.label for f in prediction.findings]
        np.testing.assert_allclose(
            [f.probability for f in single.findings], [f.probability for f in prediction.findings], atol=1e-5
        )


def test_unknown_label_is_a_clear_error(predictor: Predictor) -> None:
    with pytest.raises(LabelError, match="has no label 'FLUTTERING'"):
        predictor.label_index("FLUTTERING")


def test_single_lead_bundle_takes_lead_i(tmp_path: Path, records: list) -> None:
    single = Predictor(tiny_bundle(tmp_path / "one", in_leads=("I",)))
    assert single.prepare(records[0]).shape == (1, 5000)
    lead_i_only = records[0].replace(signal=records[0].lead("I")[None], leads=("I",))
    assert single.predict(lead_i_only).findings == single.predict(records[0]).findings
    twelve = Predictor(tiny_bundle(tmp_path / "twelve"))
    with pytest.raises(LeadError, match="II"):
        twelve.predict(lead_i_only)


@pytest.mark.parametrize("workers", [0, 1])
def test_folder_scoring_reports_bad_files_and_keeps_going(predictor: Predictor, records: list, tmp_path: Path, workers: int) -> None:
    folder = tmp_path / "ecgs"
    folder.mkdir()
    for header in ptbxl_headers(3):
        for companion in header.parent.glob(header.stem + ".*"):
            shutil.copy(companion, folder / companion.name)
    (folder / "broken.csv").write_text("I,II\n1,2\nnot,numbers\n")
    truncated = folder / "00002_hr.dat"
    truncated.write_bytes(truncated.read_bytes()[:1000])
    from ecgcore.batch import discover_ecg_files

    files = discover_ecg_files([folder])
    assert [f.name for f in files] == ["00001_hr.hea", "00002_hr.hea", "00003_hr.hea", "broken.csv"]
    results = list(predictor.predict_files(files, batch_size=2, num_workers=workers))
    assert [r.path for r in results] == files
    assert [r.error is None for r in results] == [True, False, True, False]
    assert all(r.error for r in results if r.prediction is None)
    expected = predictor.predict(records[0])
    got = results[0].prediction
    assert [f.label for f in got.findings] == [f.label for f in expected.findings]
    np.testing.assert_allclose([f.probability for f in got.findings], [f.probability for f in expected.findings], atol=1e-5)


def test_rank_makes_positives_consistent(predictor) -> None:  # noqa: ANN001
    """NORMAL ECG is not positive beside atrial fibrillation (ecgcore.consistency); the note says so."""
    probabilities = np.full(len(predictor.labels), 0.99)
    ranked = predictor.rank("r", probabilities, thresholds=np.full(len(predictor.labels), 0.2))
    positive = {f.label for f in ranked.findings if f.positive}
    assert "ATRIAL FIBRILLATION" in positive and "NORMAL ECG" not in positive
    assert ranked.notes and "NORMAL ECG" in ranked.notes[0]
    assert ranked.findings[-1].label == "NORMAL ECG"  # demoted findings rank among the negatives


def test_rank_against_stored_thresholds(predictor) -> None:  # noqa: ANN001
    """A stored run is shown against the thresholds it was made with, not the card's of today."""
    probabilities = np.full(len(predictor.labels), 0.3)
    assert not any(f.positive for f in predictor.rank("r", probabilities, include_untrained=True).findings
                   if f.threshold > 0.3)
    lowered = np.full(len(predictor.labels), 0.2)
    ranked = predictor.rank("r", probabilities, thresholds=lowered, include_untrained=True, consistent=False)
    assert all(f.positive and f.threshold == 0.2 for f in ranked.findings)
    with pytest.raises(ValueError, match="one per label"):
        predictor.rank("r", probabilities, thresholds=lowered[:3])
