"""PhysioNet/CinC Challenge 2020/2021 layout: ``<id>.hea`` + ``<id>.mat`` with ``# Dx:`` SNOMED codes.

Every ``.hea`` under ``root`` (recursively) is one record. No patient ids are published, so each
record is its own group; records go to the ``train`` split (the Challenge test sets are hidden).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ecgcore.io import read
from ecgcore.labels import encode
from train.data.shards import Example


def challenge_headers(root: str | os.PathLike[str]) -> list[Path]:
    return sorted(Path(root).rglob("*.hea"))


def challenge_examples(root: str | os.PathLike[str], *, source: str = "cinc2021", split: str = "train",
                       strict: bool = False) -> Iterator[Example]:
    """Labels come from the header's ``# Dx:`` line (``Record.labels``); unknown codes are ignored
    unless ``strict`` (then the record is skipped with the error)."""
    for header in challenge_headers(root):
        def load(header=header):
            return read(header, record_name=header.stem)

        def label(record, header=header):
            if not record.labels:
                raise ValueError(f"{header.name} has no '# Dx:' codes")
            return encode(list(record.labels), "snomed", strict=strict)

        yield Example(record_id=header.stem, source=source, load=load, label=label,
                      patient_id=f"{source}:{header.stem}", split=split, path=str(header))
