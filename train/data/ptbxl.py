"""PTB-XL layout: ``ptbxl_database.csv`` + ``scp_statements.csv`` + WFDB records at 100 or 500 Hz.

Split by PTB-XL's own ``strat_fold`` (patient-disjoint): folds 1-8 train, 9 validation, 10 test.
Labels through the documented SCP mapping (``ecgcore.labels.encode_ptbxl``, docs/label_mapping.md).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ecgcore.io import read
from ecgcore.labels import encode_ptbxl
from train.data.shards import Example

SPLITS = {**{f: "train" for f in range(1, 9)}, 9: "val", 10: "test"}


def ptbxl_split(fold: int) -> str:
    return SPLITS.get(int(fold), "train")


def ptbxl_examples(root: str | os.PathLike[str], *, sampling_rate: int = 500, min_likelihood: float = 0.0,
                   source: str = "ptbxl") -> Iterator[Example]:
    """One :class:`Example` per row of ``ptbxl_database.csv`` (records whose labels fail are skipped later)."""
    root = Path(root)
    if sampling_rate not in (100, 500):
        raise ValueError("PTB-XL comes at sampling_rate 100 or 500 Hz")
    table = pd.read_csv(root / "ptbxl_database.csv")
    column = "filename_hr" if sampling_rate == 500 else "filename_lr"
    for row in table.itertuples(index=False):
        path = root / getattr(row, column)
        record_name = str(int(row.ecg_id))
        fold = int(row.strat_fold)

        def load(path=path, record_name=record_name):
            return read(path.with_suffix(".hea"), record_name=record_name)

        def label(_record, codes=row.scp_codes):
            return encode_ptbxl(ast.literal_eval(codes), min_likelihood=min_likelihood)

        age = float(row.age) if pd.notna(row.age) and float(row.age) < 120 else None  # PTB-XL codes >89 as 300
        sex = {0: "M", 1: "F"}.get(int(row.sex)) if pd.notna(row.sex) else None
        patient = f"ptbxl:{int(row.patient_id)}" if pd.notna(row.patient_id) else None
        yield Example(record_id=record_name, source=source, load=load, label=label, patient_id=patient, fold=fold,
                      split=ptbxl_split(fold), path=str(path), age=age, sex=sex)


def count(root: str | os.PathLike[str]) -> int:
    return len(pd.read_csv(Path(root) / "ptbxl_database.csv", usecols=["ecg_id"]))
