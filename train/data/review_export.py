"""The review store's expert-review export (``db.export``): WFDB waveforms + consensus labels.

Exported label columns are 0/1 per ECGFounder label name; every exported column is a *known*
label (the reviewers were asked about it), columns not exported are unknown. A value < 0 (if an
export ever carries "undecided") is masked too. These records go to the ``test`` split by default:
the expert-review set is what models are evaluated against. A record's ``patient_id`` is the
store's patient key when the export has one (so splits keep a patient's ECGs on one side), else
the record's content hash (each record its own patient).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ecgcore.labels import N_ECGFOUNDER_LABELS, label_index
from train.data.shards import Example


def review_export_examples(folder: str | os.PathLike[str], *, split: str = "test", verify: bool = True,
                           source: str = "expert-review") -> Iterator[Example]:
    from db.export import load_expert_review_export  # db is optional for training on public data

    export = load_expert_review_export(Path(folder), verify=verify)
    columns = [label_index(name) for name in export.label_names]
    for record, row in zip(export.records, export.labels, strict=True):
        y = np.zeros(N_ECGFOUNDER_LABELS, np.float32)
        mask = np.zeros(N_ECGFOUNDER_LABELS, bool)
        values = np.asarray(row, dtype=np.int64)
        mask[columns] = values >= 0
        y[columns] = (values > 0).astype(np.float32)
        yield Example(record_id=str(record.record_name), source=source, load=lambda r=record: r, y=y, mask=mask,
                      patient_id=f"{source}:{_patient(record)}", split=split,
                      path=str(Path(folder) / "waveforms" / str(record.record_name)), age=record.age, sex=record.sex)


def _patient(record) -> str:  # noqa: ANN001 - an ecgcore Record read from an export
    return str(record.metadata.get("patient_key") or record.metadata.get("content_hash") or record.record_name)
