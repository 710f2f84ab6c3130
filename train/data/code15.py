"""CODE-15% as exported by ECG-FM: ``meta.csv`` + ``org/code_15_<exam_id>.mat`` (400 Hz)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ecgcore.io import read
from ecgcore.labels import encode
from train.data.shards import Example

CODE15_COLUMNS = ("1dAVb", "RBBB", "LBBB", "SB", "ST", "AF", "normal_ecg")


def _true(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "1.0")


def code15_examples(root: str | os.PathLike[str], *, source: str = "code15", split: str = "train") -> Iterator[Example]:
    root = Path(root)
    meta = pd.read_csv(root / "meta.csv")
    for row in meta.to_dict("records"):
        exam = str(int(row["exam_id"]))
        path = root / "org" / f"code_15_{exam}.mat"
        codes = [c for c in CODE15_COLUMNS if _true(row.get(c))]
        y, mask = encode(codes, "code15")

        def load(path=path, exam=exam):
            return read(path, record_name=exam)

        age = float(row["age"]) if pd.notna(row.get("age")) else None
        sex = ("M" if _true(row["is_male"]) else "F") if pd.notna(row.get("is_male")) else None
        yield Example(record_id=exam, source=source, load=load, y=y, mask=mask,
                      patient_id=f"{source}:{int(row['patient_id'])}" if pd.notna(row.get("patient_id")) else None,
                      split=split, path=str(path), age=age, sex=sex)
