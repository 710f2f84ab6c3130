"""Consensus, review queue, agreement statistics and the reader study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from db.agreement import (
    AUROC_SIZE_NOTE,
    MIN_AUROC_NEGATIVES,
    MIN_AUROC_POSITIVES,
    MIN_KAPPA_RECORDS,
    SAMPLE_SIZE_NOTE,
    agreement_report,
    bootstrap_ci,
    cohen_kappa_pairs,
    fleiss_kappa,
    fleiss_kappa_per_label,
)
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
    assert auroc.loc[AF, "n_negative"] == 2 and not auroc.loc[AF, "enough_data"]  # 2 + 2 records: greyed out
    assert auroc.loc[AF, "note"].startswith("n too small")
    # SB: active, scored, but the consensus has no positive record: NaN with the reason, n kept
    assert np.isnan(auroc.loc[SB, "auroc"]) and auroc.loc[SB, "n_records"] == 4 and auroc.loc[SB, "n_positive"] == 0
    assert "no positive record" in auroc.loc[SB, "note"]
    inverted = model_auroc(db, model_name="other-model", n_boot=50).set_index("label").loc[AF]
    assert inverted["auroc"] == 0.0 and not inverted["enough_data"]  # a 0.0 never stands unflagged
    perf = reviewer_performance(db).set_index("reviewer")
    assert perf.loc["alice", "sensitivity"] == 1.0 and perf.loc["carol", "sensitivity"] == 0.0
    assert perf.loc["carol", "specificity"] == 1.0 and perf.loc["carol", "fn"] == 2
    split = reviewer_performance(db, by_blinding=True).set_index(["reviewer", "saw_model_output"])
    assert split.loc[("carol", True), "n_records"] == 4 and ("carol", False) not in split.index
    assert split.loc[("alice", False), "n_records"] == 5
    report = agreement_report(db, n_boot=100)
    pairs = report["pairs"].set_index(["reviewer_a", "reviewer_b"])
    assert pairs.loc[("alice", "bob"), "n_records"] == 5
    assert not pairs["enough_data"].any()  # 4-5 records per pair: all below MIN_KAPPA_RECORDS
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


# -- n, intervals and minimum sample sizes (issue 15, item 13) -----------------------------------
def _two_readers(n_both_present: int, n_both_absent: int, n_a_only: int, n_b_only: int) -> ReviewTable:
    """Reviewers a and b on AF, one record per reading, in the given 2x2 counts."""
    cells = ([("present", "present")] * n_both_present + [("absent", "absent")] * n_both_absent
             + [("present", "absent")] * n_a_only + [("absent", "present")] * n_b_only)
    rows = []
    for record, (va, vb) in enumerate(cells):
        rows += [(record, "a", False, {AF: va}), (record, "b", False, {AF: vb})]
    return table(rows)


def test_every_statistic_has_n_an_interval_and_a_flag():
    t = _two_readers(15, 15, 5, 5)
    pairs, labels = cohen_kappa_pairs(t, LABELS, n_boot=200), fleiss_kappa_per_label(t, LABELS, n_boot=200)
    for frame, n_columns in ((pairs, ["n_records", "n_items"]), (labels, ["n_records", "n_ratings"])):
        for column in [*n_columns, "kappa", "ci_low", "ci_high", "enough_data", "note"]:
            assert column in frame.columns, column
        assert frame["enough_data"].dtype == bool
    # empty tables keep the columns too
    empty = table([(1, "a", False, {AF: "present"})])
    assert {"ci_low", "ci_high", "enough_data", "note"} <= set(cohen_kappa_pairs(empty, LABELS).columns)
    assert f"fewer than {MIN_KAPPA_RECORDS} records" in SAMPLE_SIZE_NOTE
    assert f"fewer than {MIN_AUROC_POSITIVES} positive or {MIN_AUROC_NEGATIVES} negative" in AUROC_SIZE_NOTE


def test_a_known_kappa_with_its_interval():
    # 40 records: p_o = 30/40 = 0.75, both reviewers say present half the time: p_e = 0.5 -> kappa 0.5
    t = _two_readers(15, 15, 5, 5)
    pair = cohen_kappa_pairs(t, LABELS, n_boot=500).iloc[0]
    assert pair["kappa"] == pytest.approx(0.5) and pair["observed_agreement"] == pytest.approx(0.75)
    assert pair["n_records"] == 40 and pair["n_items"] == 40 and pair["enough_data"] and pair["note"] == ""
    assert pair["ci_low"] < pair["kappa"] < pair["ci_high"] and -1 <= pair["ci_low"] and pair["ci_high"] <= 1
    label = fleiss_kappa_per_label(t, LABELS, n_boot=500).set_index("label").loc[AF]
    assert label["kappa"] == pytest.approx(0.5)  # two raters, equal marginals: Fleiss = Scott = Cohen
    assert label["ci_low"] < label["kappa"] < label["ci_high"] and label["enough_data"]
    # seeded: the same data gives the same interval
    again = cohen_kappa_pairs(t, LABELS, n_boot=500).iloc[0]
    assert (again["ci_low"], again["ci_high"]) == (pair["ci_low"], pair["ci_high"])


def test_a_three_record_kappa_is_flagged_not_presented():
    t = _two_readers(0, 0, 2, 1)  # 3 records, every one a disagreement: kappa -1 by luck of the draw
    pair = cohen_kappa_pairs(t, LABELS, n_boot=200).iloc[0]
    assert pair["n_records"] == 3 and not pair["enough_data"]
    assert pair["note"].startswith("n too small") and "3 records" in pair["note"]
    label = fleiss_kappa_per_label(t, LABELS, n_boot=200).iloc[0]
    assert label["n_records"] == 3 and not label["enough_data"] and label["note"].startswith("n too small")


def test_degenerate_agreement_is_nan_with_a_reason():
    one = _two_readers(0, 0, 1, 0)  # a single record: kappa would be -1
    pair = cohen_kappa_pairs(one, LABELS).iloc[0]
    assert np.isnan(pair["kappa"]) and np.isnan(pair["ci_low"]) and not pair["enough_data"]
    assert "fewer than 2 records" in pair["note"]
    label = fleiss_kappa_per_label(one, LABELS).iloc[0]
    assert np.isnan(label["kappa"]) and "fewer than 2 records" in label["note"]
    # a and b always say absent; AF is active only through c: chance agreement 1, kappa undefined
    rows = [(r, name, False, {}) for r in range(12) for name in ("a", "b")] + [(0, "c", False, {AF: "present"})]
    same = cohen_kappa_pairs(table(rows), LABELS).set_index(["reviewer_a", "reviewer_b"]).loc[("a", "b")]
    assert same["n_records"] == 12 and same["enough_data"] and np.isnan(same["kappa"])
    assert same["note"].startswith("undefined")


def test_a_known_auroc_with_its_interval():
    y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    assert bootstrap_auroc(y, p, n_boot=10)[0] == pytest.approx(0.75)  # the roc_auc_score docs' example
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    y, p = rng.integers(0, 2, 60), np.round(rng.random(60), 1)  # ties count half
    assert bootstrap_auroc(y, p, n_boot=10)[0] == pytest.approx(roc_auc_score(y, p))


def test_bootstrap_ci_skips_undefined_resamples_and_is_seeded():
    values = np.arange(20, dtype=float)
    low, high = bootstrap_ci(lambda idx: values[idx].mean(axis=1), 20, n_boot=500, seed=3)
    assert low < values.mean() < high
    assert (low, high) == bootstrap_ci(lambda idx: values[idx].mean(axis=1), 20, n_boot=500, seed=3)
    assert all(np.isnan(bootstrap_ci(lambda idx: np.full(len(idx), np.nan), 20, n_boot=50)))
    assert all(np.isnan(bootstrap_ci(lambda idx: values[idx].mean(axis=1), 1)))


def test_model_auroc_on_enough_records_is_not_greyed(db, team, ptbxl_records):
    ids = [add_record(db, r)[0].id for r in ptbxl_records[:10]]
    truth = [True] * 5 + [False] * 5
    scores = [0.9, 0.8, 0.7, 0.6, 0.3, 0.5, 0.4, 0.2, 0.1, 0.05]  # one positive below two negatives: 23/25
    for rid, af, p in zip(ids, truth, scores, strict=True):
        add_prediction(db, rid, "ecgfounder-12lead", "1.0", {AF: p})
        for name in ("alice", "bob"):
            save_review(db, rid, name, {AF: "present" if af else "absent"}, saw_model_output=False)
    auroc = model_auroc(db, n_boot=300)
    for column in ["n_records", "n_positive", "n_negative", "auroc", "ci_low", "ci_high", "enough_data", "note"]:
        assert column in auroc.columns, column
    row = auroc.set_index("label").loc[AF]
    assert row["auroc"] == pytest.approx(23 / 25)
    assert (row["n_records"], row["n_positive"], row["n_negative"]) == (10, 5, 5)
    assert row["enough_data"] and row["note"] == ""
    assert row["ci_low"] <= row["auroc"] <= row["ci_high"] and row["ci_low"] < row["ci_high"]
    pair = agreement_report(db, n_boot=100)["pairs"].iloc[0]
    assert pair["n_records"] == 10 and pair["enough_data"] and pair["kappa"] == pytest.approx(1.0)
