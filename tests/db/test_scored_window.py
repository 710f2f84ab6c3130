"""A long record is scored on the 10-s window the reviewer chose, and the window is stored with the prediction."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from db import workspace
from db.models import PredictionRun
from db.records import predictions_for
from db.session import Database
from ecgcore.errors import ECGValidationError
from ecgcore.io import read
from ecgcore.predict import Predictor
from tests.ecgcore.helpers import tiny_bundle


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    return Predictor(tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny"))


@pytest.fixture(scope="module")
def long_record(shared_data_dir):  # noqa: ANN001, ANN201
    """A real PTB Diagnostic ECG of 38 s at 1 kHz, so several 10-s windows differ."""
    ecg = read(shared_data_dir / "ptbdb_sample" / "s0010_re.hea")
    assert ecg.duration_s > 30
    return ecg


def test_each_window_is_its_own_prediction_and_is_stored(db: Database, team: dict, predictor: Predictor,
                                                         long_record) -> None:  # noqa: ANN001
    record_id = workspace.import_ecg(db, long_record, predictor=None, uploader="alice").record_id
    first = workspace.ensure_prediction(db, record_id, long_record, predictor)
    later = workspace.ensure_prediction(db, record_id, long_record, predictor, start_s=25.0)
    assert later != first
    assert workspace.ensure_prediction(db, record_id, long_record, predictor, start_s=25.0) == later  # reused
    assert workspace.ensure_prediction(db, record_id, long_record, predictor, start_s=0.0) == first
    with db.transaction() as session:
        windows = dict(session.execute(select(PredictionRun.id, PredictionRun.window_start_s)).all())
    assert windows == {first: 0.0, later: 25.0}
    by_id = {run.id: np.array([s.probability for s in run.scores]) for run in predictions_for(db, record_id)}
    expected = predictor.probabilities(predictor.prepare(long_record, 25.0)[np.newaxis])[0]
    np.testing.assert_allclose(by_id[later], expected, atol=1e-6)  # the findings are the 25-35 s window's
    assert not np.allclose(by_id[first], by_id[later], atol=1e-6)


def test_a_window_outside_the_record_is_refused(db: Database, team: dict, predictor: Predictor,
                                                long_record) -> None:  # noqa: ANN001
    record_id = workspace.import_ecg(db, long_record, predictor=None, uploader="alice").record_id
    with pytest.raises(ECGValidationError, match="outside the record"):
        workspace.ensure_prediction(db, record_id, long_record, predictor, start_s=long_record.duration_s - 5)
    assert predictions_for(db, record_id) == []
