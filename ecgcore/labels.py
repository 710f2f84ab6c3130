"""The ECGFounder label vocabulary (150 diagnoses, in model-output order) and the mappings onto it.

ECGFounder was trained on GE MUSE statements of the Harvard-Emory ECG Database; every other
labelled ECG collection speaks a different vocabulary. The mapping tables live as reviewable CSV
files in ``ecgcore/resources/<vocabulary>_to_ecgfounder.csv`` (columns ``source_code``,
``source_description``, ``ecgfounder_label``, ``relation``, ``note``); this module only loads and
applies them, so a clinician can change a mapping without reading code.

Vocabularies: ``"scp"`` (PTB-XL SCP-ECG statements), ``"snomed"`` (PhysioNet/CinC Challenge 2021
SNOMED CT codes), ``"code15"`` (CODE-15% labels), ``"aha"`` (AHA statement codes as used by SPH),
``"cinc2017"`` (CinC 2017 single-lead rhythm classes N/A/O/~).

``relation`` says how the *source code* compares with the ECGFounder label:

- ``exact``: same finding. The code makes the label positive.
- ``narrower``: the code is a special case of the label (e.g. paroxysmal SVT -> SUPRAVENTRICULAR
  TACHYCARDIA). The code makes the label positive.
- ``broader``: the code covers the label and other things (e.g. "2nd degree AV block" vs
  "... MOBITZ I"). The code does *not* make the label positive; it makes it unknown (masked) for
  that record, because "not stated" is not "absent".
- ``none``: explicitly unmapped (empty label); the note says why.

Positive-unlabelled training needs two things per record: a target vector and a mask of labels
whose value is actually known. :func:`known_mask` is the dataset-level mask: a label is known for
a vocabulary when some code maps to it as ``exact`` or ``narrower`` (then the absence of all such
codes means "negative"); a label no code maps to is UNKNOWN for the whole dataset, never negative.
:func:`encode` refines that mask per record (``broader`` codes, low-likelihood codes, the
normal/abnormal verdict rule).

The NORMAL ECG / ABNORMAL ECG verdict rule (documented in docs/label_mapping.md): MUSE ends every
report with one overall verdict, so the pair is treated together.

- A code mapped ``exact`` to NORMAL ECG (PTB-XL NORM, CODE-15% normal_ecg, AHA 1) is the reader's
  verdict: NORMAL ECG = 1 and ABNORMAL ECG = 0, even if minor statements co-occur (PTB-XL has
  NORM together with e.g. IRBBB: the cardiologist judged the whole ECG normal).
- Otherwise, any code with an ABNORMAL ECG row makes ABNORMAL ECG = 1 and NORMAL ECG = 0.
- Otherwise ABNORMAL ECG is unknown (masked); NORMAL ECG is a known negative only in vocabularies
  that have a normal code (PTB-XL: a record without NORM is not normal), else unknown.
- BORDERLINE ECG and "otherwise normal ecg" are never mapped: no source vocabulary says which of
  MUSE's four verdicts applies to a not-normal ECG.
"""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ecgcore.errors import LabelError

N_ECGFOUNDER_LABELS = 150

VOCABULARIES: tuple[str, ...] = ("scp", "snomed", "code15", "aha", "cinc2017")
"""Source vocabularies with a mapping table ``ecgcore/resources/<name>_to_ecgfounder.csv``."""

RELATIONS: tuple[str, ...] = ("exact", "narrower", "broader", "none")
POSITIVE_RELATIONS: frozenset[str] = frozenset({"exact", "narrower"})

NORMAL_ECG = "NORMAL ECG"
ABNORMAL_ECG = "ABNORMAL ECG"

_VOCABULARY_NAMES = {
    "scp": "PTB-XL SCP-ECG statements",
    "snomed": "PhysioNet/CinC Challenge 2021 SNOMED CT codes",
    "code15": "CODE-15% labels",
    "aha": "AHA statement codes (SPH)",
    "cinc2017": "PhysioNet/CinC Challenge 2017 rhythm classes",
}


@lru_cache(maxsize=1)
def ecgfounder_labels() -> tuple[str, ...]:
    """The 150 labels; index i is output i of the official ECGFounder checkpoints."""
    text = resources.files("ecgcore.resources").joinpath("ecgfounder_labels.txt").read_text(encoding="utf-8")
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(labels) != N_ECGFOUNDER_LABELS:
        raise RuntimeError(f"ecgfounder_labels.txt has {len(labels)} labels, expected {N_ECGFOUNDER_LABELS}")
    return labels


@lru_cache(maxsize=1)
def _label_indices() -> dict[str, int]:
    return {label: i for i, label in enumerate(ecgfounder_labels())}


def label_index(label: str) -> int:
    """Index of ``label`` in the model output.

    Names must match exactly (the list mixes upper case with one lower-case label, "otherwise
    normal ecg", exactly as the checkpoints were trained). An unknown name raises
    :class:`~ecgcore.errors.LabelError` listing the closest names, because a silently wrong index
    would train or report the wrong diagnosis.
    """
    index = _label_indices().get(label)
    if index is not None:
        return index
    raise LabelError(_unknown_label_message(label))


def _unknown_label_message(label: object) -> str:
    labels = ecgfounder_labels()
    text = str(label)
    by_upper = {name.upper(): name for name in labels}
    close = difflib.get_close_matches(text.upper(), list(by_upper), n=3, cutoff=0.5)
    suggestions = [by_upper[c] for c in close]
    if text.strip().upper() in by_upper and by_upper[text.strip().upper()] not in suggestions:
        suggestions.insert(0, by_upper[text.strip().upper()])
    hint = f" Did you mean: {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    return (
        f"{text!r} is not one of the {len(labels)} ECGFounder labels (names are matched exactly)."
        f"{hint} See ecgcore/resources/ecgfounder_labels.txt for the full list."
    )


# ---------------------------------------------------------------------------------- mapping tables


@dataclass(frozen=True)
class MappingRow:
    """One row of a mapping CSV: ``source_code`` -> ``ecgfounder_label`` with a ``relation``."""

    source_code: str
    source_description: str
    ecgfounder_label: str  # "" when relation == "none"
    relation: str
    note: str


def _check_vocabulary(vocabulary: str) -> str:
    if vocabulary not in VOCABULARIES:
        close = difflib.get_close_matches(str(vocabulary).lower(), VOCABULARIES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise LabelError(f"unknown label vocabulary {vocabulary!r}; accepted: {', '.join(VOCABULARIES)}.{hint}")
    return vocabulary


@lru_cache(maxsize=None)
def mapping_table(vocabulary: str) -> tuple[MappingRow, ...]:
    """All rows of the mapping table of ``vocabulary``, in file order (for docs and the app).

    The CSV is validated on load (known relation, label spelled exactly as in the 150-label list,
    empty label only for ``none``) so that a typo in a hand-edited table fails loudly instead of
    silently dropping a diagnosis.
    """
    _check_vocabulary(vocabulary)
    text = resources.files("ecgcore.resources").joinpath(f"{vocabulary}_to_ecgfounder.csv").read_text(encoding="utf-8")
    rows = []
    for lineno, raw in enumerate(csv.DictReader(text.splitlines()), start=2):
        row = MappingRow(
            source_code=raw["source_code"].strip(),
            source_description=raw["source_description"].strip(),
            ecgfounder_label=raw["ecgfounder_label"].strip(),
            relation=raw["relation"].strip(),
            note=raw["note"].strip(),
        )
        where = f"{vocabulary}_to_ecgfounder.csv line {lineno}"
        if row.relation not in RELATIONS:
            raise RuntimeError(f"{where}: relation {row.relation!r} is not one of {RELATIONS}")
        if (row.relation == "none") != (row.ecgfounder_label == ""):
            raise RuntimeError(f"{where}: relation 'none' goes with an empty label and only with it")
        if row.ecgfounder_label and row.ecgfounder_label not in _label_indices():
            raise RuntimeError(f"{where}: {_unknown_label_message(row.ecgfounder_label)}")
        rows.append(row)
    return tuple(rows)


def _normalise_code(code: object) -> str:
    """Case- and whitespace-insensitive key; SNOMED codes may come as ints."""
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    return str(code).strip().casefold()


@lru_cache(maxsize=None)
def _rows_by_code(vocabulary: str) -> dict[str, tuple[MappingRow, ...]]:
    grouped: dict[str, list[MappingRow]] = {}
    for row in mapping_table(vocabulary):
        grouped.setdefault(_normalise_code(row.source_code), []).append(row)
    return {code: tuple(rows) for code, rows in grouped.items()}


def source_codes(vocabulary: str) -> tuple[str, ...]:
    """Every source code the table of ``vocabulary`` documents (mapped or explicitly unmapped)."""
    seen: dict[str, None] = {}
    for row in mapping_table(vocabulary):
        seen.setdefault(row.source_code, None)
    return tuple(seen)


def _split_codes(codes: str | Iterable[object]) -> list[object]:
    # A single string is a comma/semicolon list ("426783006,164934002" from a CinC header,
    # "22;23" from SPH metadata), never an iterable of characters.
    if isinstance(codes, str):
        return [c for c in re.split(r"[,;]", codes) if c.strip()]
    return list(codes)


def _rows_for(code: object, vocabulary: str, strict: bool) -> tuple[MappingRow, ...]:
    table = _rows_by_code(vocabulary)
    key = _normalise_code(code)
    if key in table:
        return table[key]
    if vocabulary == "aha" and "+" in key and key.split("+")[0] in table:
        # "50+999": primary statement 50 with a modifier the table does not list; modifiers
        # refine the statement, so the primary statement's mapping still holds.
        return table[key.split("+")[0]]
    if strict:
        raise LabelError(
            f"{code!r} is not a code of the {_VOCABULARY_NAMES[vocabulary]} table "
            f"(ecgcore/resources/{vocabulary}_to_ecgfounder.csv). Add it there (mapped, or with an empty "
            f"label and a note), or pass strict=False to ignore unknown codes."
        )
    return ()


# --------------------------------------------------------------------------------- vectors, masks


def label_vector(labels: Iterable[str]) -> np.ndarray:
    """``(150,)`` float32 multi-hot vector with 1 at each named label (unknown name -> LabelError)."""
    vector = np.zeros(N_ECGFOUNDER_LABELS, dtype=np.float32)
    for label in labels:
        vector[label_index(label)] = 1.0
    return vector


def labels_from_vector(vector: np.ndarray, threshold: float = 0.5) -> list[str]:
    """Names of the labels whose value is ``>= threshold``, in model-output order (inverse of label_vector)."""
    values = np.asarray(vector).reshape(-1)
    if values.shape[0] != N_ECGFOUNDER_LABELS:
        raise LabelError(f"expected a vector of {N_ECGFOUNDER_LABELS} values, got {values.shape[0]}")
    return [label for label, value in zip(ecgfounder_labels(), values) if value >= threshold]


@lru_cache(maxsize=None)
def _known_mask(vocabulary: str) -> np.ndarray:
    mask = np.zeros(N_ECGFOUNDER_LABELS, dtype=bool)
    rows = mapping_table(vocabulary)
    for row in rows:
        if row.relation in POSITIVE_RELATIONS:
            mask[label_index(row.ecgfounder_label)] = True
    if any(row.ecgfounder_label == ABNORMAL_ECG for row in rows):
        # an abnormal code makes NORMAL ECG a known negative for that record (verdict rule)
        mask[label_index(NORMAL_ECG)] = True
    mask.setflags(write=False)
    return mask


def known_mask(vocabulary: str) -> np.ndarray:
    """``(150,)`` bool: which ECGFounder labels ``vocabulary`` can speak about at all.

    A label is known when some source code maps to it as ``exact`` or ``narrower``: then a record
    without any such code is a negative. Every other label is UNKNOWN for the dataset (not
    negative) and must be excluded from the loss -- this is the mask of positive-unlabelled
    training. Per-record refinements come from :func:`encode`.
    """
    return _known_mask(_check_vocabulary(vocabulary)).copy()


def known_labels(vocabulary: str) -> list[str]:
    """Names of the labels in :func:`known_mask`, in model-output order."""
    return labels_from_vector(known_mask(vocabulary))


def _normal_codes(vocabulary: str) -> frozenset[str]:
    return frozenset(
        _normalise_code(r.source_code)
        for r in mapping_table(vocabulary)
        if r.ecgfounder_label == NORMAL_ECG and r.relation == "exact"
    )


def encode(
    codes: str | Iterable[object],
    vocabulary: str,
    *,
    uncertain: str | Iterable[object] = (),
    strict: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Target vector and known-label mask of one record: ``(y float32 (150,), mask bool (150,))``.

    ``codes`` are the record's source codes (stated findings). ``uncertain`` are codes that were
    stated with too low a confidence to count (see :func:`scp_codes_from_likelihoods`): their labels
    become unknown rather than positive or negative. ``y`` is 0 wherever ``mask`` is False, so
    a trainer can use ``mask`` directly as per-label loss weights. Unknown codes raise
    :class:`~ecgcore.errors.LabelError` unless ``strict=False``.
    """
    _check_vocabulary(vocabulary)
    present = [_normalise_code(c) for c in _split_codes(codes)]
    doubtful = [_normalise_code(c) for c in _split_codes(uncertain)]
    rows = [row for code in present for row in _rows_for(code, vocabulary, strict)]
    doubtful_rows = [row for code in doubtful for row in _rows_for(code, vocabulary, strict)]

    positives = {row.ecgfounder_label for row in rows if row.relation in POSITIVE_RELATIONS}
    mask = known_mask(vocabulary)
    for row in rows + doubtful_rows:
        if row.ecgfounder_label and row.ecgfounder_label not in positives:
            if row.relation == "broader" or row in doubtful_rows:
                mask[label_index(row.ecgfounder_label)] = False

    # verdict rule: NORMAL ECG / ABNORMAL ECG (see module docstring)
    i_normal, i_abnormal = label_index(NORMAL_ECG), label_index(ABNORMAL_ECG)
    if NORMAL_ECG in positives:
        positives.discard(ABNORMAL_ECG)
        mask[i_abnormal] = bool(known_mask(vocabulary)[i_abnormal])
        mask[i_normal] = True
    elif ABNORMAL_ECG in positives:
        mask[i_normal] = True
        mask[i_abnormal] = True
    else:
        mask[i_abnormal] = False
        if not _normal_codes(vocabulary):
            mask[i_normal] = False

    y = label_vector(positives)
    y[~mask] = 0.0
    return y, mask


def map_source_codes(codes: str | Iterable[object], vocabulary: str, *, strict: bool = True) -> set[str]:
    """ECGFounder labels made positive by a record's source ``codes`` in ``vocabulary``.

    ``vocabulary`` is one of ``"scp"``, ``"snomed"``, ``"code15"``, ``"aha"``, ``"cinc2017"``.
    ``codes`` is an iterable of codes or one comma/semicolon-separated string. Applies ``exact`` and
    ``narrower`` rows and the NORMAL/ABNORMAL verdict rule; which other labels are negative or
    unknown is answered by :func:`encode` / :func:`known_mask`, not by absence from this set.
    """
    y, _ = encode(codes, vocabulary, strict=strict)
    return set(labels_from_vector(y))


def scp_codes_from_likelihoods(
    scp_codes: Mapping[str, float], min_likelihood: float = 0.0
) -> tuple[list[str], list[str]]:
    """Split a PTB-XL ``scp_codes`` dict (code -> likelihood 0-100) into ``(stated, uncertain)``.

    PTB-XL gives diagnostic statements a likelihood (15, 35, 50, 80, 100); form and rhythm
    statements always have 0, which PTB-XL defines as "unknown likelihood". The default
    (``min_likelihood=0``) counts every listed code as positive, as the PTB-XL benchmark does.
    With ``min_likelihood > 0`` a code with ``0 < likelihood < min_likelihood`` is uncertain (pass it
    as ``encode(..., uncertain=...)`` so its labels are masked, not negative); likelihood 0 is
    "unknown", not "low", and always counts as stated -- otherwise every rhythm statement would be
    dropped.
    """
    stated: list[str] = []
    uncertain: list[str] = []
    for code, likelihood in scp_codes.items():
        value = float(likelihood) if likelihood is not None else 0.0
        (uncertain if 0.0 < value < min_likelihood else stated).append(code)
    return stated, uncertain


def encode_ptbxl(scp_codes: Mapping[str, float], min_likelihood: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`encode` for one PTB-XL ``scp_codes`` dict, applying ``min_likelihood`` (see above)."""
    stated, uncertain = scp_codes_from_likelihoods(scp_codes, min_likelihood)
    return encode(stated, "scp", uncertain=uncertain)


# ------------------------------------------------------------------------------ display, fragments

_KEEP_UPPER: frozenset[str] = frozenset({
    "AV", "SA", "QRS", "ST", "QT", "PR", "RSR'", "QR", "LVH", "RVH", "RBBB", "LBBB", "MI", "STEMI", "ECG", "AVL",
    "V1", "WPW", "T", "R", "P", "Q", "S", "I", "II", "III", "AVR", "AVF", "2:1",
})
"""Words :func:`display_label` keeps upper case: abbreviations, wave and lead names."""

_PROPER: dict[str, str] = {"MOBITZ": "Mobitz", "WOLFF": "Wolff", "PARKINSON": "Parkinson", "WHITE": "White",
                           "AVL": "aVL", "AVR": "aVR", "AVF": "aVF"}
"""Words :func:`display_label` writes as names (people, leads)."""

FRAGMENT_LABELS: frozenset[str] = frozenset({
    "ACUTE", "BLOCKED", "R IN AVL", "OR DIGITALIS EFFECT", "otherwise normal ecg", "ANTEROLATERAL LEADS",
    "MASKED BY FASCICULAR BLOCK", "IN A PATTERN OF BIGEMINY", "PEDIATRIC ECG ANALYSIS",
    "CONSIDER RIGHT VENTRICULAR INVOLVEMENT IN ACUTE INFERIOR INFARCT",
})
"""Labels that are pieces of a MUSE statement, not findings on their own (besides the prefix rule).

MUSE builds statements from parts ("... ST elevation, CONSIDER ANTERIOR INJURY OR ACUTE
INFARCT", "LEFT VENTRICULAR HYPERTROPHY WITH REPOLARIZATION ABNORMALITY ... OR DIGITALIS EFFECT");
ECGFounder learnt some parts as labels. A part means nothing without the statement it qualifies:
single qualifiers (ACUTE, BLOCKED), a lead or lead group (R IN AVL, ANTEROLATERAL LEADS), an
alternative (OR DIGITALIS EFFECT), a verdict modifier ('otherwise normal ecg' -- the verdict is
NORMAL / ABNORMAL / BORDERLINE ECG), a context note (PEDIATRIC ECG ANALYSIS), a suggestion that
only follows an inferior infarct (CONSIDER RIGHT VENTRICULAR INVOLVEMENT ...).
"""

FRAGMENT_PREFIXES: tuple[str, ...] = ("OR ", "AND ", "IN A ")
"""Labels starting with these words continue another statement (see :func:`is_fragment`).

"WITH ..." labels are *not* fragments although they continue a rhythm statement ("SINUS RHYTHM
WITH 1ST DEGREE AV BLOCK"): each names a finding of its own (1st degree AV block, rapid
ventricular response, premature complexes) that a reviewer can judge and add.
"""


def display_label(label: str) -> str:
    """``label`` in readable sentence case for the app: 'LEFT VENTRICULAR HYPERTROPHY' -> 'Left ventricular
    hypertrophy', 'WITH 1ST DEGREE AV BLOCK' -> 'With 1st degree AV block', 'otherwise normal ecg' ->
    'Otherwise normal ECG'.

    Abbreviations, waves and leads (AV, QRS, ST, QT, LVH, RBBB, MI, ECG, aVL, V1, ...) stay upper
    case. Only for showing: stored and exported labels keep the model's names
    (:func:`label_index` matches exactly).
    """
    words = []
    for i, word in enumerate(str(label).split(" ")):
        pieces = []
        for piece in re.split(r"([/-])", word):
            upper = piece.upper()
            if upper in _PROPER:
                pieces.append(_PROPER[upper])
            elif upper in _KEEP_UPPER or piece in "/-":
                pieces.append(upper)
            else:
                pieces.append(piece.lower())
        text = "".join(pieces)
        words.append(text[:1].upper() + text[1:] if i == 0 else text)
    return " ".join(words)


def is_fragment(label: str) -> bool:
    """True for labels that are not a finding on their own (:data:`FRAGMENT_LABELS`, or starting with one of
    :data:`FRAGMENT_PREFIXES`). They are kept out of the lists a reviewer picks findings from."""
    return label in FRAGMENT_LABELS or label.upper().startswith(FRAGMENT_PREFIXES)


def finding_labels() -> tuple[str, ...]:
    """The 150 labels without the fragments, in model-output order (the 'add a finding' list)."""
    return tuple(label for label in ecgfounder_labels() if not is_fragment(label))
