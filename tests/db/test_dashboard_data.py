"""The Agreement page's data: who may download the verdicts CSV (audited), who sees names and the model."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from db import audit, dashboard_data
from db.errors import PermissionDeniedError
from db.models import AuditEvent
from db.records import add_prediction, add_record
from db.reviews import save_review
from db.session import Database

AF = "ATRIAL FIBRILLATION"


def _exports(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "export"))


def _study(db: Database, records: list) -> None:
    for i, ecg in enumerate(records[:3]):
        rid = add_record(db, ecg)[0].id
        add_prediction(db, rid, "ecgfounder-12lead", "1.0", {AF: 0.9 if i % 2 else 0.1})
        for name in ("alice", "bob", "dan"):
            save_review(db, rid, name, {AF: "present" if i % 2 else "absent"}, saw_model_output=name != "dan")


@pytest.mark.parametrize("name", ["vic", "dan"])  # a viewer, an annotator
def test_verdicts_csv_is_refused_without_export_rights_and_not_audited(db, team, ptbxl_records, name):
    _study(db, ptbxl_records)
    with pytest.raises(PermissionDeniedError):
        dashboard_data.verdicts_csv(db, actor=name)
    assert _exports(db) == 0


def test_verdicts_csv_for_an_exporter_is_audited(db, team, ptbxl_records):
    _study(db, ptbxl_records)
    text = dashboard_data.verdicts_csv(db, actor="alice")
    assert text.splitlines()[0] == ",".join(dashboard_data.VERDICT_COLUMNS)
    assert len(text.strip().splitlines()) == 1 + 9 and "dan" in text
    event = audit.events(db, action="export")[0]
    assert _exports(db) == 1 and event.target == "verdicts_csv" and event.details["n_verdicts"] == 9


def test_agreement_view_applies_who_sees_what(db, team, ptbxl_records):
    _study(db, ptbxl_records)
    cardiologist = dashboard_data.agreement_view(db, "cardiologist", n_boot=50)
    assert set(cardiologist.records_per_reviewer.index) == {"alice", "bob", "dan"}
    assert cardiologist.auroc is not None and set(cardiologist.confusion["reviewer"]) == {"alice", "bob", "dan"}
    assert cardiologist.can_export
    for role in ("annotator", "viewer"):
        view = dashboard_data.agreement_view(db, role, n_boot=50)
        shown = {*view.records_per_reviewer.index, *view.pairs["reviewer_a"], *view.pairs["reviewer_b"]}
        assert shown == {"reviewer 1", "reviewer 2", "reviewer 3"} and not view.can_export
        assert view.pairs["n_records"].tolist() == [3, 3, 3] and not view.pairs["enough_data"].any()
    annotator = dashboard_data.agreement_view(db, "annotator", n_boot=50)
    assert annotator.auroc is None and annotator.confusion is None  # blinded readers: no model-vs-reviewer
    viewer = dashboard_data.agreement_view(db, "viewer", n_boot=50)
    assert viewer.auroc is not None and set(viewer.confusion["reviewer"]) <= {"reviewer 1", "reviewer 2", "reviewer 3"}
