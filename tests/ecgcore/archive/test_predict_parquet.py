"""``ecg predict DIR -o results.parquet``: the schema, what a row holds, resuming, and the CSV path untouched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecgcore.archive.hashing import content_sha256
from ecgcore.archive.schema import METADATA_KEY
from ecgcore.cli import main
from ecgcore.io import read
from ecgcore.predict import Predictor
from tests.ecgcore.helpers import TINY_LABELS


def _predict(folder: Path, bundle: Path, out: Path, *extra: str) -> int:
    return main(["predict", str(folder), "--model", str(bundle), "-o", str(out), "-q", "--workers", "0", *extra])


def test_schema_and_rows_match_the_predictor(folder: Path, bundle: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "results.parquet"
    assert _predict(folder, bundle, out, "--measure", "--assess", "--batch-size", "4") == 1  # one broken file
    err = capsys.readouterr().err
    assert "6 of 7 file(s) in this run, 1 failed" in err and "failed x1:" in err and "records/s" in err

    table = pq.read_table(out)
    schema = table.schema
    assert schema.names[:5] == ["path", "content_sha256", "record_id", "model", "model_version"]
    assert [f"p:{label}" for label in TINY_LABELS] == [n for n in schema.names if n.startswith("p:")]
    assert schema.field("p:NORMAL ECG").type == pa.float32()
    assert schema.field("positives").type == pa.list_(pa.string())
    for name in ("m:heart_rate_bpm", "m:qrs_ms", "statements", "measurement_flags", "interpretable", "reversal",
                 "paced", "quality_reasons", "error"):
        assert name in schema.names
    meta = json.loads(schema.metadata[METADATA_KEY])
    assert meta["format"] == "ecgcore-archive/1" and meta["labels"] == TINY_LABELS
    assert meta["model"] == "tiny-test" and meta["measure"] and meta["assess"]

    rows = {Path(r["path"]).name: r for r in table.to_pylist()}
    assert len(rows) == 7
    broken = rows["garbage.edf"]
    assert broken["error"] and broken["p:NORMAL ECG"] is None and broken["model"] is None

    predictor = Predictor(bundle)
    header = folder / "00001_hr.hea"
    row = rows["00001_hr.hea"]
    expected = predictor.probabilities(predictor.prepare(read(header))[None])[0]
    assert row["record_id"] == "00001_hr" and row["error"] is None
    assert row["model"] == "tiny-test" and row["model_version"] == predictor.card.version
    assert row["content_sha256"] == content_sha256(header)
    np.testing.assert_allclose([row["p:" + label] for label in TINY_LABELS[:3]], expected[:3], rtol=1e-5, atol=1e-6)
    assert row["p:SINUS BRADYCARDIA"] is None  # untrained label: no probability unless --include-untrained
    ranked = predictor.rank("00001_hr", expected)
    assert row["positives"] == [f.label for f in ranked.positives]
    assert row["m:heart_rate_bpm"] > 30 and row["interpretable"] in (True, False)


def test_rerun_skips_done_files_and_rescores_changed_ones(folder: Path, bundle: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "results.parquet"
    _predict(folder, bundle, out)
    first = {r["path"]: r for r in pq.read_table(out).to_pylist()}
    capsys.readouterr()

    _predict(folder, bundle, out)
    err = capsys.readouterr().err
    assert "0 of 0 file(s) in this run" in err and "7 of 7 already done" in err
    assert {r["path"]: r for r in pq.read_table(out).to_pylist()} == first

    changed = folder / "00002_hr.hea"  # the same signal under another header comment: another content hash
    changed.write_text(changed.read_text() + "# edited\n")
    _predict(folder, bundle, out)
    rows = pq.read_table(out).to_pylist()
    assert sorted(r["path"] for r in rows) == sorted(first)  # every file exactly once
    again = {r["path"]: r for r in rows}[str(changed)]
    assert again["content_sha256"] == content_sha256(changed) != first[str(changed)]["content_sha256"]


def test_output_of_another_model_is_refused(folder: Path, bundle: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "results.parquet"
    _predict(folder, bundle, out)
    capsys.readouterr()
    assert _predict(folder, bundle, out, "--measure") == 2
    assert "written by another run (measure: False there, True now" in capsys.readouterr().err


def test_bad_options_exit_2(folder: Path, bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _predict(folder, bundle, tmp_path / "r.parquet", "--format", "csv") == 2
    assert "--format csv does not apply to a Parquet output" in capsys.readouterr().err
    assert main(["predict", str(folder), "--model", str(bundle), "--assess", "-q"]) == 2
    assert "--assess and --amp need a Parquet output" in capsys.readouterr().err
    assert _predict(folder, bundle, tmp_path / "r.parquet", "--rows-per-group", "0") == 2
    assert not (tmp_path / "r.parquet").exists()
