"""WFDB header comments: age, sex, Dx and LUDB diagnoses for every convention in the real data.

One test per convention on REAL headers from ../shared/data (skipped when it is absent):
PhysioNet Challenge 2020/2021 (``#Age: 74``, ``# Sex: Male``, ``#Age: NaN``), LUDB (``#<age>: 51``,
``#<sex>: F``, ``#<diagnoses>:``), PTB Diagnostic (``# age: 81``, ``# sex: female``) and the
comment-less PTB-XL / CinC 2017 headers; then synthetic comment lists for the edge cases.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import wfdb

import ecgcore
from ecgcore.io.wfdb_header import parse_simple_header, read_header
from ecgcore.io.wfdb_reader import parse_comments, split_comment

_COMMENTED_FOLDERS = ("ludb_dev", "cinc2020_sample", "cinc2021_sample", "ptbdb_sample")


def _comments(header: Path) -> list[str]:
    """The comment lines exactly as the reader gets them (fast path, else wfdb)."""
    return list(read_header(header).comments or [])


def _ludb_table(shared: Path) -> pd.DataFrame:
    """ludb.csv's own age and sex per record: a second, independent source for the header values."""
    table = pd.read_csv(shared / "ludb_dev" / "ludb.csv")
    table["Sex"] = table["Sex"].str.strip()
    return table.set_index("ID")


# --- LUDB: <age>: 51, <sex>: F, <diagnoses>: ------------------------------------------------------


def test_ludb_age_and_sex_match_ludb_csv_for_every_record(shared_data_dir: Path) -> None:
    table = _ludb_table(shared_data_dir)
    headers = sorted((shared_data_dir / "ludb_dev" / "data").glob("*.hea"))
    assert len(headers) == 40
    for header in headers:
        age, sex, labels, meta = parse_comments(_comments(header))
        row = table.loc[int(header.stem)]
        assert (age, sex) == (float(row["Age"]), row["Sex"]), header.name
        assert labels == [] and "age_raw" not in meta and "sex_raw" not in meta
        assert meta["diagnoses"] and meta["diagnoses"][0].startswith("Rhythm: ")


def test_ludb_read_returns_age_sex_and_diagnoses(shared_data_dir: Path) -> None:
    header = shared_data_dir / "ludb_dev" / "data" / "10.hea"  # '#<age>: 79', '#<sex>: F'
    record = ecgcore.read(header)
    assert (record.age, record.sex, record.labels) == (79.0, "F", ())
    assert record.metadata["diagnoses"] == [
        "Rhythm: Sinus rhythm.",
        "Electric axis of the heart: left axis deviation.",
        "Complete right bundle branch block.",
        "Left atrial hypertrophy.",
        "Scar formation: inferior wall.",
    ]
    assert "header_comments" not in record.metadata  # every line was age, sex or a diagnosis
    male = ecgcore.read(shared_data_dir / "ludb_dev" / "data" / "5.hea")
    assert (male.age, male.sex) == (61.0, "M")


# --- PhysioNet Challenge 2020/2021: #Age: 74, # Sex: Male, #Age: NaN, #Dx: ---------------------


@pytest.mark.parametrize(
    ("relative", "age", "sex", "labels"),
    [
        ("cinc2021_sample/E07500.hea", 78.0, "M", ["67741000119109", "426177001"]),  # '# Age: 78'
        ("cinc2020_sample/G12EC/E00001.hea", None, "F", ["426783006"]),  # '#Age: NaN', '#Sex: Female'
    ],
)
def test_challenge_headers(shared_data_dir: Path, relative: str, age, sex, labels) -> None:
    got_age, got_sex, got_labels, meta = parse_comments(_comments(shared_data_dir / relative))
    assert (got_age, got_sex, got_labels) == (age, sex, labels)
    assert "age_raw" not in meta  # NaN means 'not recorded', not a value to keep
    assert meta["header_comments"] == ["Rx: Unknown", "Hx: Unknown"]


def test_challenge_read_no_space_after_hash(shared_data_dir: Path) -> None:
    header = shared_data_dir / "cinc2020_sample" / "CPSC_CPSC-Extra" / "A0001.hea"
    text = header.read_text()
    assert "#Age: " in text and "#Sex: " in text  # the no-space spelling
    expected_age = float(re.search(r"^#Age: (\d+)", text, re.M).group(1))
    expected_sex = re.search(r"^#Sex: (\w+)", text, re.M).group(1)[0]
    record = ecgcore.read(header)
    assert (record.age, record.sex) == (expected_age, expected_sex)


# --- PTB Diagnostic: # age: 81, # sex: female, clinical summary -----------------------------------


def test_ptb_lower_case_keys_and_clinical_summary(shared_data_dir: Path) -> None:
    comments = _comments(shared_data_dir / "ptbdb_sample" / "s0010_re.hea")
    assert comments[:2] == ["age: 81", "sex: female"]
    age, sex, labels, meta = parse_comments(comments)
    assert (age, sex, labels) == (81.0, "F", [])
    assert meta["header_comments"] == comments[2:]  # the whole clinical summary, in order
    summary = meta["header_comments"]
    assert summary[:3] == ["ECG date: 01/10/1990", "Diagnose:", "Reason for admission: Myocardial infarction"]
    assert "diagnoses" not in meta  # PTB's 'Diagnose:' is a section title, not LUDB's <diagnoses> block


# --- Headers with no comments: nothing is invented -------------------------------------------------


@pytest.mark.parametrize(
    "relative", ["ptbxl_subset/records500/00000/00001_hr.hea", "cinc2017_subset/training2017/A00001.hea"]
)
def test_headers_without_comments_give_unknown(shared_data_dir: Path, relative: str) -> None:
    assert parse_comments(_comments(shared_data_dir / relative)) == (None, None, [], {})


# --- Every commented real header: each age/sex line is read, and the fast path keeps comments as wfdb


def _commented_headers(shared: Path) -> list[Path]:
    return [h for folder in _COMMENTED_FOLDERS for h in sorted((shared / folder).rglob("*.hea"))]


def test_every_real_age_and_sex_line_is_read(shared_data_dir: Path) -> None:
    headers = _commented_headers(shared_data_dir)
    assert len(headers) == 150
    for header in headers:
        age, sex, _, meta = parse_comments(_comments(header))
        declared_nan = re.search(r"^#\s*<?age>?:\s*NaN\s*$", header.read_text(), re.I | re.M) is not None
        assert (age is None) == declared_nan, f"{header.name}: age {age}"
        assert sex in ("M", "F"), f"{header.name}: sex {sex}"  # every real header here states M or F
        assert "age_raw" not in meta and "sex_raw" not in meta


def test_fast_header_path_keeps_comments_identical_to_wfdb(shared_data_dir: Path) -> None:
    for header in _commented_headers(shared_data_dir):
        fast = parse_simple_header(header.read_text())
        assert fast is not None, header.name
        assert fast.comments == wfdb.rdheader(str(header.with_suffix(""))).comments, header.name


# --- Synthetic edge cases --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comments", "age", "sex"),
    [
        ([], None, None),
        (["Age: 51", "Sex: F"], 51.0, "F"),
        (["AGE: 51", "SEX: MALE"], 51.0, "M"),
        (["age:51", "sex:m"], 51.0, "M"),
        (["<age>: 51", "<sex>: F"], 51.0, "F"),
        (["< Age > : 51.5", "<SEX>:female"], 51.5, "F"),
        (["Gender: Female"], None, "F"),
        (["Age: NaN", "Sex: Unknown"], None, None),
        (["age: n/a", "sex: n/a"], None, None),
        (["<age>: ?", "<sex>: ?"], None, None),
        (["age: unknown", "sex: unknown"], None, None),  # what db/export.py writes for a missing value
        (["Age:", "Sex:"], None, None),
        (["Age: -1"], None, None),
    ],
)
def test_age_and_sex_spellings(comments: list[str], age, sex) -> None:
    got_age, got_sex, labels, meta = parse_comments(comments)
    assert (got_age, got_sex) == (age, sex)
    assert labels == [] and "header_comments" not in meta


def test_unparseable_values_stay_none_but_are_kept_raw() -> None:
    age, sex, _, meta = parse_comments(["<age>: >89", "<sex>: X"])
    assert (age, sex) == (None, None)
    assert (meta["age_raw"], meta["sex_raw"]) == (">89", "X")


def test_ludb_diagnoses_block_ends_at_the_next_bracketed_field() -> None:
    comments = ["<diagnoses>:", "Rhythm: Sinus rhythm.", "", "Left atrial hypertrophy.", "<age>: 40", "Note: x"]
    age, sex, labels, meta = parse_comments(comments)
    assert meta["diagnoses"] == ["Rhythm: Sinus rhythm.", "Left atrial hypertrophy."]
    assert (age, sex, labels) == (40.0, None, [])
    assert meta["header_comments"] == ["Note: x"]


def test_empty_diagnoses_block_is_recorded_as_empty() -> None:
    assert parse_comments(["<sex>: M", "<diagnoses>:"])[3] == {"diagnoses": []}


def test_dx_codes_and_other_lines_keep_their_order() -> None:
    age, sex, labels, meta = parse_comments(["no colon here", "dx: 1, 2 ,3", "Hx: none", "Rhythm: AF"])
    assert labels == ["1", "2", "3"]
    assert meta["header_comments"] == ["no colon here", "Hx: none", "Rhythm: AF"]  # unbracketed: not LUDB's block


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("<age>: 51", ("age", "51", True)),
        ("Age: 74", ("age", "74", False)),
        ("< Age >  :  74 ", ("age", "74", True)),
        ("Electric axis of the heart: normal.", ("electric axis of the heart", "normal.", False)),
        ("Left atrial hypertrophy.", (None, "Left atrial hypertrophy.", False)),
    ],
)
def test_split_comment(line: str, expected) -> None:
    assert split_comment(line) == expected
