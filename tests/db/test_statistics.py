"""Consensus, review queue, agreement statistics and the reader study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from db.agreement import agreement_report, cohen_kappa_pairs, fleiss_kappa, fleiss_kappa_per_label
from db.consensus import compute_consensus, consensus, review_queue
from db.reader_study import bootstrap_auroc, model_auroc, reviewer_performance
from db.records import add_prediction, add_record
from db.reviews import ReviewTable, save_review

AF, SB, LBBB, NORMAL = "ATRIAL FIBRILLATION", "SINUS BRADYCARDIA", "LEFT BUNDLE BRANCH BLOCK", "NORMAL ECG"
LABELS = (AF, SB, LBBB, NORMAL)


def table(rows: list[tuple[int, str, bool, dict[str, str]]]) -> ReviewTable:
    """ReviewTable from (record_id, reviewer, is_adjudication, verdicts) tuples."""
    reviews, verdicts = [], []
    for review_id, (record_id, reviewer, adjudication, given) in enumerate(rows, start=1):
        reviews.append({"review_id": review_id, "record_id": record_id, "reviewer_id": hash(reviewer) % 1000,
                        "reviewer": reviewer, "role": "cardiologist", "is_adjudication": adjudication,
                        "saw_model_output": False, "version": 1})
        verdicts += [{"review_id": review_id, "label": k, "verdict": v} for k, v in given.items()]
    return ReviewTable(pd.DataFrame(reviews), pd.DataFrame(verdicts, columns=["review_id", "label", "verdict"]))


def test_fleiss_kappa_matches_the_published_example():
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> 0.210
    counts = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                       [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert fleiss_kappa(counts) == pytest.approx(0.210, abs=5e-4)
    assert np.isnan(fleiss_kappa(np.array([[3, 0, 0], [2, 0, 0]])))  # one category only: undefined
    assert fleiss_kappa(np.array([[2, 0], [0, 2], [2, 0]])) == pytest.approx(1.0)


def test_consensus_majority_ties_uncertain_and_adjudication():
    t = table([
        (1, "a", False, {AF: "present"}), (1, "b", False, {AF: "present"}), (1, "c", False, {}),    # 2/3 AF
        (2, "a", False, {AF: "present"}), (2, "b", False, {}),                                       # tie
        (3, "a", False, {AF: "present"}), (3, "b", False, {}), (3, "e", True, {AF: "absent"}),       # adjudicated
        (4, "a", False, {SB: "uncertain"}), (4, "b", False, {SB: "uncertain"}),                      # uncertain
        (5, "a", False, {LBBB: "present"}),                                                           # one reviewer
        (6, "a", False, {SB: "present"}), (6, "b", False, {}), (6, "e", True, {SB: "uncertain"}),    # adjudicator unsure
    ])
    c = compute_consensus(t, LABELS)
    assert c.values.loc[1].tolist() == [1, 0, 0, 0]
    assert c.records.loc[1, "status"] == "complete" and c.records.loc[1, "agreement"] == pytest.approx(2 / 3)
    assert c.records.loc[2, "status"] == "needs_adjudication" and c.records.loc[2, "unresolved"] == [AF]
    assert c.records.loc[3, "status"] == "adjudicated" and c.values.loc[3, AF] == 0
    assert c.records.loc[4, "status"] == "needs_adjudication" and c.records.loc[4, "unresolved"] == [SB]
    assert c.records.loc[5, "status"] == "needs_second_review"
    assert c.records.loc[6, "status"] == "needs_adjudication"
    assert c.final().index.tolist() == [1, 3]
    # explicit-only counting: unmentioned labels are not assessed
    explicit = compute_consensus(t, LABELS, unlisted="ignore")
    assert explicit.values.loc[1, AF] == 1 and np.isnan(explicit.values.loc[1, SB])


def test_cohen_and_fleiss_on_a_constructed_table():
    same = [{AF: "present"}, {}, {SB: "present"}, {AF: "present", SB: "present"}]
    rows = [(r, "a", False, v) for r, v in enumerate(same)] + [(r, "b", False, v) for r, v in enumerate(same)]
    rows += [(r, "c", False, {AF: "present"} if r % 2 else {}) for r in range(4)]
    pairs = cohen_kappa_pairs(table(rows), LABELS).set_index(["reviewer_a", "reviewer_b"])
    assert pairs.loc[("a", "b"), "kappa"] == pytest.approx(1.0)
    assert pairs.loc[("a", "b"), "n_records"] == 4 and pairs.loc[("a", "b"), "n_items"] == 8  # 2 active labels
    # a vs c: AF a=[1,0,0,1] c=[0,1,0,1]; SB a=[0,0,1,1] c=[0,0,0,0]
    xa, xc = [1, 0, 0, 1, 0, 0, 1, 1], [0, 1, 0, 1, 0, 0, 0, 0]
    from sklearn.metrics import cohen_kappa_score

    assert pairs.loc[("a", "c"), "kappa"] == pytest.approx(cohen_kappa_score(xa, xc))
    fleiss = fleiss_kappa_per_label(table(rows), LABELS).set_index("label")
    assert set(fleiss.index) == {AF, SB}
    assert fleiss.loc[AF, "n_records"] == 4 and fleiss.loc[AF, "n_ratings"] == 12
    assert fleiss.loc[AF, "n_present"] == 6
    counts = np.array([[2, 1, 0], [1, 2, 0], [3, 0, 0], [0, 3, 0]])  # absent, present, uncertain per record
    assert fleiss.loc[AF, "kappa"] == pytest.approx(fleiss_kappa(counts))


def test_bootstrap_auroc_ci_brackets_the_estimate():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    auc, low, high = bootstrap_auroc(y, p, n_boot=300)
    assert low < auc < high and 0.6 < auc < 1.0
    assert all(np.isnan(bootstrap_auroc(np.ones(5), np.arange(5) / 5)))


def _review_study(db, records):
    """4 records read by alice, bob, dan (agree) and carol (misses AF); the model is right about AF."""
    ids = [add_record(db, r)[0].id for r in records[:5]]
    truth = [True, False, True, False]
    for rid, af in zip(ids, truth, strict=False):
        add_prediction(db, rid, "ecgfounder-12lead", "1.0", {AF: 0.9 if af else 0.1, SB: 0.5})
        add_prediction(db, rid, "other-model", "0.1", {AF: 0.1 if af else 0.9, SB: 0.5})
        for name in ("alice", "bob", "dan"):
            save_review(db, rid, name, {AF: "present" if af else "absent"}, saw_model_output=False)
        save_review(db, rid, "carol", {AF: "absent"}, saw_model_output=True)  # carol misses AF
    save_review(db, ids[4], "alice", {SB: "present"}, saw_model_output=False)  # needs a second review
    save_review(db, ids[4], "bob", {SB: "absent"}, saw_model_output=False)
    save_review(db, ids[4], "dan", {}, saw_model_output=False)  # tie 1 present / 2 absent -> absent by majority
    return ids


def test_reader_study_queue_and_agreement_on_the_store(db, team, ptbxl_records):
    ids = _review_study(db, ptbxl_records)
    c = consensus(db)
    assert c.records["status"].tolist() == ["complete"] * 5
    assert c.values.loc[ids[0], AF] == 1 and c.values.loc[ids[1], AF] == 0
    auroc = model_auroc(db, model_name="ecgfounder-12lead", n_boot=200).set_index("label")
    assert auroc.loc[AF, "auroc"] == pytest.approx(1.0) and auroc.loc[AF, "n_positive"] == 2
    assert model_auroc(db, model_name="other-model", n_boot=50).set_index("label").loc[AF, "auroc"] == 0.0
    perf = reviewer_performance(db).set_index("reviewer")
    assert perf.loc["alice", "sensitivity"] == 1.0 and perf.loc["carol", "sensitivity"] == 0.0
    assert perf.loc["carol", "specificity"] == 1.0 and perf.loc["carol", "fn"] == 2
    split = reviewer_performance(db, by_blinding=True).set_index(["reviewer", "saw_model_output"])
    assert split.loc[("carol", True), "n_records"] == 4 and ("carol", False) not in split.index
    assert split.loc[("alice", False), "n_records"] == 5
    report = agreement_report(db)
    pairs = report["pairs"].set_index(["reviewer_a", "reviewer_b"])
    assert pairs.loc[("alice", "bob"), "n_records"] == 5
    assert (report["labels"]["label"] == AF).any()
    assert review_queue(db).empty
    # an adjudication-worthy record and an unreviewed one
    extra = add_record(db, ptbxl_records[5])[0].id
    save_review(db, extra, "alice", {LBBB: "present"}, saw_model_output=False)
    fresh = add_record(db, ptbxl_records[6])[0].id
    queue = review_queue(db, include_unreviewed=True).set_index("record_id")
    assert queue.loc[extra, "status"] == "needs_second_review" and queue.loc[fresh, "status"] == "needs_first_review"
    save_review(db, extra, "bob", {}, saw_model_output=False)
    assert review_queue(db).set_index("record_id").loc[extra, "unresolved"] == [LBBB]
    save_review(db, extra, "erin", {LBBB: "present"}, saw_model_output=False, adjudication=True)
    assert review_queue(db).empty and consensus(db).records.loc[extra, "status"] == "adjudicated"
