"""Label vocabulary and the source-vocabulary mappings (ecgcore/resources/*_to_ecgfounder.csv)."""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np
import pytest

from ecgcore import labels as L
from ecgcore.config import REPO_ROOT
from ecgcore.errors import ECGError, LabelError


def _raw_rows(vocabulary: str) -> list[dict[str, str]]:
    text = resources.files("ecgcore.resources").joinpath(f"{vocabulary}_to_ecgfounder.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


# ------------------------------------------------------------------------------------ vocabulary


def test_vocabulary_is_150_unique_labels_matching_the_reference():
    labels = L.ecgfounder_labels()
    assert len(labels) == 150 == len(set(labels))
    assert labels[0] == "ABNORMAL ECG" and labels[2] == "NORMAL ECG" and labels[-1] == "MULTIFOCAL ATRIAL TACHYCARDIA"
    reference = REPO_ROOT.parent / "shared" / "reference" / "ecgfounder_labels.txt"
    if reference.is_file():
        assert labels == tuple(x.strip() for x in reference.read_text().splitlines() if x.strip())


def test_label_index_round_trip():
    for i, label in enumerate(L.ecgfounder_labels()):
        assert L.label_index(label) == i
    assert L.label_index("otherwise normal ecg") == 7  # the one lower-case label, kept as trained


def test_unknown_label_raises_label_error_with_suggestion():
    with pytest.raises(LabelError) as info:
        L.label_index("ATRIAL FIBRILATION")
    message = str(info.value)
    assert "'ATRIAL FIBRILLATION'" in message and "150" in message
    assert isinstance(info.value, ECGError) and isinstance(info.value, KeyError)
    with pytest.raises(LabelError, match="'NORMAL ECG'"):
        L.label_index("normal ecg")  # case matters; the message points at the right spelling
    with pytest.raises(LabelError):
        L.label_vector(["SINUS RHYTHM", "no such label"])


def test_label_vector_round_trip():
    names = ["ATRIAL FIBRILLATION", "NORMAL ECG", "otherwise normal ecg", "MULTIFOCAL ATRIAL TACHYCARDIA"]
    vector = L.label_vector(names)
    assert vector.shape == (150,) and vector.dtype == np.float32 and vector.sum() == 4
    assert set(L.labels_from_vector(vector)) == set(names)
    assert L.labels_from_vector(vector) == sorted(names, key=L.label_index)  # model-output order
    assert L.label_vector([]).sum() == 0
    with pytest.raises(LabelError):
        L.labels_from_vector(np.zeros(149))


# ---------------------------------------------------------------------------------- mapping CSVs


@pytest.mark.parametrize("vocabulary", L.VOCABULARIES)
def test_every_label_in_every_csv_is_spelled_exactly(vocabulary):
    allowed = set(L.ecgfounder_labels())
    rows = _raw_rows(vocabulary)
    assert rows, vocabulary
    assert list(rows[0]) == ["source_code", "source_description", "ecgfounder_label", "relation", "note"]
    for row in rows:
        label, relation = row["ecgfounder_label"], row["relation"]
        assert relation in L.RELATIONS, row
        if relation == "none":
            assert label == "" and row["note"].strip(), f"unmapped code needs a note: {row}"
        else:
            assert label in allowed, f"{vocabulary}: {label!r} is not an ECGFounder label"
        assert row["source_code"].strip() == row["source_code"] != ""
    assert len(L.mapping_table(vocabulary)) == len(rows)
    pairs = [(r["source_code"], r["ecgfounder_label"]) for r in rows]
    assert len(pairs) == len(set(pairs)), "duplicate rows"


def test_every_scp_statement_is_in_the_table(shared_data_dir):
    with open(shared_data_dir / "ptbxl_subset" / "scp_statements.csv", newline="") as f:
        codes = {row[""] for row in csv.DictReader(f)}
    assert len(codes) == 71
    assert set(L.source_codes("scp")) == codes


def test_every_challenge_snomed_code_is_in_the_table(shared_data_dir):
    codes = set()
    for name in ("dx_mapping_scored.csv", "dx_mapping_unscored.csv"):
        with open(shared_data_dir / "cinc2021_sample" / name, newline="") as f:
            codes |= {row["SNOMEDCTCode"] for row in csv.DictReader(f)}
    assert len(codes) == 133
    assert set(L.source_codes("snomed")) == codes


def test_code15_sph_and_cinc2017_codes_are_in_their_tables(shared_data_dir):
    with open(shared_data_dir / "code15_sample" / "labels" / "label_def.csv", newline="") as f:
        code15 = {row["name"] for row in csv.DictReader(f)} - {"is_male"}
    assert set(L.source_codes("code15")) == code15
    with open(shared_data_dir / "sph_sample" / "AHA_SNOMED_mapping.csv", newline="", encoding="utf-8-sig") as f:
        aha = {row["AHA_Code"] for row in csv.DictReader(f)}
    assert aha <= set(L.source_codes("aha"))
    assert set(L.source_codes("cinc2017")) == {"N", "A", "O", "~"}


def test_unknown_vocabulary_and_unknown_code():
    with pytest.raises(LabelError, match="snomed"):
        L.mapping_table("snowmed")
    with pytest.raises(LabelError, match="scp_to_ecgfounder.csv"):
        L.map_source_codes(["NOT_A_CODE"], "scp")
    assert L.map_source_codes(["NOT_A_CODE", "AFIB"], "scp", strict=False) == {"ATRIAL FIBRILLATION", "ABNORMAL ECG"}


# --------------------------------------------------------------------------------- known masks


@pytest.mark.parametrize("vocabulary", L.VOCABULARIES)
def test_known_mask_is_exactly_the_positively_mapped_labels(vocabulary):
    mask = L.known_mask(vocabulary)
    assert mask.shape == (150,) and mask.dtype == bool
    positive = {r.ecgfounder_label for r in L.mapping_table(vocabulary) if r.relation in ("exact", "narrower")}
    expected = set(positive) | ({"NORMAL ECG"} if "ABNORMAL ECG" in positive else set())
    assert set(L.known_labels(vocabulary)) == expected
    mask[0] = not mask[0]  # callers get a copy
    assert L.known_mask(vocabulary)[0] != mask[0]


@pytest.mark.parametrize("vocabulary", L.VOCABULARIES)
def test_every_code_encodes_inside_its_known_mask(vocabulary):
    known = L.known_mask(vocabulary)
    for code in L.source_codes(vocabulary):
        y, mask = L.encode([code], vocabulary)
        assert y.dtype == np.float32 and mask.dtype == bool
        assert not (mask & ~known).any(), code  # per-record mask only ever removes labels
        assert not (y[~mask] != 0).any(), code  # masked labels carry no target
        assert set(L.labels_from_vector(y)) == L.map_source_codes([code], vocabulary)
        assert L.map_source_codes([code], vocabulary) <= set(L.known_labels(vocabulary))


def test_serial_comparison_and_borderline_labels_are_never_known():
    for vocabulary in L.VOCABULARIES:
        known = set(L.known_labels(vocabulary))
        assert not {"BORDERLINE ECG", "otherwise normal ecg", "T WAVE INVERSION NOW EVIDENT IN", "QT HAS LENGTHENED"} & known
        assert "NORMAL SINUS RHYTHM" not in known


# --------------------------------------------------------------------------------- spot checks


@pytest.mark.parametrize(
    ("vocabulary", "code", "label"),
    [
        ("scp", "AFIB", "ATRIAL FIBRILLATION"),
        ("scp", "NORM", "NORMAL ECG"),
        ("scp", "SR", "SINUS RHYTHM"),
        ("scp", "IRBBB", "INCOMPLETE RIGHT BUNDLE BRANCH BLOCK"),
        ("scp", "CRBBB", "RIGHT BUNDLE BRANCH BLOCK"),
        ("scp", "CLBBB", "LEFT BUNDLE BRANCH BLOCK"),
        ("scp", "LVH", "LEFT VENTRICULAR HYPERTROPHY"),
        ("scp", "1AVB", "WITH 1ST DEGREE AV BLOCK"),
        ("scp", "SBRAD", "SINUS BRADYCARDIA"),
        ("scp", "STACH", "SINUS TACHYCARDIA"),
        ("scp", "LAFB", "LEFT ANTERIOR FASCICULAR BLOCK"),
        ("scp", "IMI", "INFERIOR INFARCT"),
        ("scp", "ASMI", "ANTEROSEPTAL INFARCT"),
        ("scp", "PVC", "PREMATURE VENTRICULAR COMPLEXES"),
        ("scp", "AFLT", "ATRIAL FLUTTER"),
        ("snomed", "164889003", "ATRIAL FIBRILLATION"),
        ("snomed", 426177001, "SINUS BRADYCARDIA"),
        ("snomed", "713427006", "RIGHT BUNDLE BRANCH BLOCK"),
        ("snomed", "59118001", "RIGHT BUNDLE BRANCH BLOCK"),
        ("snomed", "713426002", "INCOMPLETE RIGHT BUNDLE BRANCH BLOCK"),
        ("snomed", "164873001", "LEFT VENTRICULAR HYPERTROPHY"),
        ("snomed", "270492004", "WITH 1ST DEGREE AV BLOCK"),
        ("snomed", "426783006", "SINUS RHYTHM"),
        ("code15", "1dAVb", "WITH 1ST DEGREE AV BLOCK"),
        ("code15", "SB", "SINUS BRADYCARDIA"),
        ("code15", "ST", "SINUS TACHYCARDIA"),
        ("code15", "AF", "ATRIAL FIBRILLATION"),
        ("code15", "normal_ecg", "NORMAL ECG"),
        ("aha", "22", "SINUS BRADYCARDIA"),
        ("aha", "106", "RIGHT BUNDLE BRANCH BLOCK"),
        ("aha", "50+346", "ATRIAL FIBRILLATION"),
        ("cinc2017", "A", "ATRIAL FIBRILLATION"),
        ("cinc2017", "N", "SINUS RHYTHM"),
    ],
)
def test_clinically_obvious_mappings(vocabulary, code, label):
    assert label in L.map_source_codes([code], vocabulary)


def test_no_cross_talk_in_obvious_cases():
    assert "RIGHT BUNDLE BRANCH BLOCK" not in L.map_source_codes(["IRBBB"], "scp")
    assert "INCOMPLETE RIGHT BUNDLE BRANCH BLOCK" not in L.map_source_codes(["CRBBB"], "scp")
    assert "ATRIAL FIBRILLATION" not in L.map_source_codes(["AFLT"], "scp")
    assert "NORMAL ECG" not in L.map_source_codes(["SR"], "scp")
    # the Challenge scores PAC and SVPB together, ECGFounder keeps them apart
    assert L.map_source_codes(["63593006"], "snomed") == {"PREMATURE SUPRAVENTRICULAR COMPLEXES"}


def test_code_formats_are_forgiving():
    assert L.map_source_codes("426783006, 164889003", "snomed") == L.map_source_codes([426783006, 164889003.0], "snomed")
    assert L.map_source_codes("22;23", "aha") == {"SINUS BRADYCARDIA", "WITH SINUS ARRHYTHMIA"}
    assert L.map_source_codes(["afib"], "scp") == L.map_source_codes(["AFIB"], "scp")
    assert "ATRIAL FIBRILLATION" in L.map_source_codes(["50+999"], "aha")  # unlisted modifier -> primary


# ------------------------------------------------------------------------- per-record rules


def _value(y, mask, label):
    i = L.label_index(label)
    return None if not mask[i] else float(y[i])


def test_broader_codes_mask_instead_of_negating():
    y, mask = L.encode(["SBRAD"], "scp")
    assert _value(y, mask, "SINUS BRADYCARDIA") == 1.0
    assert _value(y, mask, "MARKED SINUS BRADYCARDIA") is None
    y, mask = L.encode(["2AVB"], "scp")
    assert _value(y, mask, "WITH 2ND DEGREE AV BLOCK MOBITZ I") is None
    assert _value(y, mask, "ABNORMAL ECG") == 1.0
    y, mask = L.encode(["164865005"], "snomed")  # MI, location unstated
    assert _value(y, mask, "INFERIOR INFARCT") is None and _value(y, mask, "ABNORMAL ECG") == 1.0


def test_normal_abnormal_verdict_rule():
    y, mask = L.encode(["NORM", "SR"], "scp")
    assert _value(y, mask, "NORMAL ECG") == 1.0 and _value(y, mask, "ABNORMAL ECG") == 0.0
    y, mask = L.encode(["NORM", "SR", "IRBBB"], "scp")  # the reader's NORM verdict wins
    assert _value(y, mask, "ABNORMAL ECG") == 0.0 and _value(y, mask, "INCOMPLETE RIGHT BUNDLE BRANCH BLOCK") == 1.0
    y, mask = L.encode(["IMI", "SR"], "scp")
    assert _value(y, mask, "NORMAL ECG") == 0.0 and _value(y, mask, "ABNORMAL ECG") == 1.0
    y, mask = L.encode(["SR"], "scp")  # no verdict at all: abnormal unknown, normal negative (no NORM)
    assert _value(y, mask, "ABNORMAL ECG") is None and _value(y, mask, "NORMAL ECG") == 0.0
    y, mask = L.encode(["426783006"], "snomed")  # SNOMED has no normal code: both unknown
    assert _value(y, mask, "ABNORMAL ECG") is None and _value(y, mask, "NORMAL ECG") is None
    y, mask = L.encode(["164889003"], "snomed")
    assert _value(y, mask, "ABNORMAL ECG") == 1.0 and _value(y, mask, "NORMAL ECG") == 0.0
    for vocabulary in L.VOCABULARIES:
        assert not {"BORDERLINE ECG", "otherwise normal ecg"} & set(L.known_labels(vocabulary))


def test_cinc2017_classes():
    y, mask = L.encode(["A"], "cinc2017")
    assert _value(y, mask, "ATRIAL FIBRILLATION") == 1.0 and _value(y, mask, "SINUS RHYTHM") == 0.0
    y, mask = L.encode(["N"], "cinc2017")
    assert _value(y, mask, "SINUS RHYTHM") == 1.0 and _value(y, mask, "ATRIAL FIBRILLATION") == 0.0
    assert _value(y, mask, "NORMAL SINUS RHYTHM") is None
    y, mask = L.encode(["O"], "cinc2017")  # other rhythm: AF known negative, sinus rhythm unknown
    assert _value(y, mask, "ATRIAL FIBRILLATION") == 0.0 and _value(y, mask, "SINUS RHYTHM") is None
    y, mask = L.encode(["~"], "cinc2017")  # noise: nothing known
    assert not mask.any() and not y.any()


def test_ptbxl_likelihoods():
    codes = {"IMI": 15.0, "NDT": 100.0, "SR": 0.0}
    assert L.scp_codes_from_likelihoods(codes) == (["IMI", "NDT", "SR"], [])
    assert L.scp_codes_from_likelihoods(codes, 50) == (["NDT", "SR"], ["IMI"])  # 0 = unknown, kept
    y, mask = L.encode_ptbxl(codes)
    assert _value(y, mask, "INFERIOR INFARCT") == 1.0
    y, mask = L.encode_ptbxl(codes, min_likelihood=50)
    assert _value(y, mask, "INFERIOR INFARCT") is None  # masked, not negative
    assert _value(y, mask, "NONSPECIFIC T WAVE ABNORMALITY") == 1.0 and _value(y, mask, "SINUS RHYTHM") == 1.0
    assert _value(y, mask, "ABNORMAL ECG") == 1.0  # NDT alone still makes the record abnormal


def test_ptbxl_subset_abnormal_is_not_norm(shared_data_dir):
    import ast

    with open(shared_data_dir / "ptbxl_subset" / "ptbxl_database.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    i_norm, i_abn = L.label_index("NORMAL ECG"), L.label_index("ABNORMAL ECG")
    for row in rows:
        codes = ast.literal_eval(row["scp_codes"])
        y, mask = L.encode_ptbxl(codes)
        assert mask[i_norm] and mask[i_abn], codes
        assert y[i_norm] == float("NORM" in codes) and y[i_abn] == float("NORM" not in codes)


def test_doc_is_up_to_date():
    doc = REPO_ROOT / "docs" / "label_mapping.md"
    text = doc.read_text(encoding="utf-8")
    for vocabulary in L.VOCABULARIES:
        assert f"ecgcore/resources/{vocabulary}_to_ecgfounder.csv" in text
        for row in L.mapping_table(vocabulary):
            assert f"`{row.source_code.replace('|', chr(92) + '|')}`" in text, row


# ------------------------------------------------------------------------------ display, fragments


@pytest.mark.parametrize(("label", "shown"), [
    ("LEFT VENTRICULAR HYPERTROPHY", "Left ventricular hypertrophy"),
    ("WITH 1ST DEGREE AV BLOCK", "With 1st degree AV block"),
    ("NONSPECIFIC ST AND T WAVE ABNORMALITY", "Nonspecific ST and T wave abnormality"),
    ("LOW VOLTAGE QRS", "Low voltage QRS"),
    ("otherwise normal ecg", "Otherwise normal ECG"),
    ("R IN AVL", "R in aVL"),
    ("WOLFF-PARKINSON-WHITE", "Wolff-Parkinson-White"),
    ("RBBB AND LEFT ANTERIOR FASCICULAR BLOCK", "RBBB and left anterior fascicular block"),
    ("ACUTE MI / STEMI", "Acute MI / STEMI"),
])
def test_display_label_is_sentence_case_keeping_abbreviations(label: str, shown: str) -> None:
    assert L.display_label(label) == shown


@pytest.mark.parametrize("label", ["ACUTE", "BLOCKED", "R IN AVL", "OR DIGITALIS EFFECT", "otherwise normal ecg",
                                   "IN A PATTERN OF BIGEMINY", "ANTEROLATERAL LEADS"])
def test_fragments(label: str) -> None:
    assert L.is_fragment(label)
    assert label not in L.finding_labels()


@pytest.mark.parametrize("label", ["NORMAL ECG", "ACUTE MI", "ACUTE PERICARDITIS", "WITH 1ST DEGREE AV BLOCK",
                                   "ATRIAL FIBRILLATION", "RBBB AND LEFT ANTERIOR FASCICULAR BLOCK"])
def test_findings_are_not_fragments(label: str) -> None:
    assert not L.is_fragment(label) and label in L.finding_labels()


def test_fragment_list_names_real_labels() -> None:
    assert L.FRAGMENT_LABELS <= set(L.ecgfounder_labels())
