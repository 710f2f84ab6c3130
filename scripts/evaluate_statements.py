"""Measurement-based statements against the labelled data, with the model's AUROC for the same label.

    python -m scripts.evaluate_statements [--data DIR] [--datasets ptbxl,ludb,cinc2020] [--n-boot 1000]
                                          [--limit N] [--no-write]

Every record of the three labelled 12-lead sets in ``../shared/data`` is measured
(``ecgcore.measure``), given its measurement-based statements (``ecgcore.measurements.statements``,
with the record's sex and age) and scored by the shipped default 12-lead model
(``ecgcore.Predictor.default()``, which honours ``ECG_DEFAULT_MODEL``). For each statement rule,
dataset and reference label:

- **sensitivity / specificity** of the statement with Wilson 95% CIs, over the records whose
  reference is known. A rule that could not be applied to a record (a measurement missing or
  unreliable, a paced rhythm, atrial fibrillation for the sinus rules, a child for the adult
  criteria) made no statement there, which counts as "not stated" (what the reader sees); the
  ``not assessable`` column says on how many records (and how many of the positives) that happened.
- **the model's AUROC** for the ECGFounder label of the reference, with a 1000-resample bootstrap
  95% CI (``train.metrics.bootstrap_ci``), on the same records, and its sensitivity / specificity
  at the card's threshold. Labels outside the card's ``trained_labels`` are reported as "not
  trained" (their outputs are untrained). The default model was trained on all 434 PTB-XL
  records and the CinC 2021 sample: its PTB-XL AUROC is **in-sample**, so the card's out-of-fold
  AUROC for the same label and records is shown beside it. LUDB and the CinC 2020 sample were not
  used in training.

References (positives / negatives; every other record is "unknown" and left out):

- PTB-XL (``ptbxl_subset``, 434 records at 500 Hz, folds 1-9): the SCP codes through the project's
  SCP -> ECGFounder mapping (``ecgcore.labels.encode_ptbxl``), exactly as the model is evaluated:
  SR, SBRAD, STACH, 1AVB, LNGQT, LVOLT, VCLVH, LVH. Axis from the ``heart_axis`` column (German
  cart nomenclature): ALAD ("ueberdrehter Linkstyp", < -30 deg) is left axis deviation, RAD
  ("Rechtstyp") and ARAD ("ueberdrehter Rechtstyp") right axis deviation; MID, LAD ("Linkstyp",
  -30..+30 deg: *not* left axis deviation), AXR ("Steillage") are negatives; AXL ("borderline left
  axis deviation") is unknown for left axis deviation; an empty ``heart_axis`` (362 records) is
  unknown. Wide QRS: CLBBB, CRBBB or IVCD positive; paced (PACE) or WPW records unknown.
  PTB-XL has no short-PR code (only WPW), so short PR has no reference there.
- CinC 2020 sample (``cinc2020_sample``, 59 records): the ``# Dx:`` SNOMED codes through the
  SNOMED -> ECGFounder mapping (``ecgcore.labels.encode``): 426783006 sinus rhythm, 426177001
  sinus bradycardia, 427084000 sinus tachycardia, 270492004 1st degree AV block, 49578007 short
  PR, 39732003 / 47665007 left / right axis deviation, 111975006 prolonged QT, 251146004 low QRS
  voltage, 55827005 LV high voltage, 164873001 LVH. Wide QRS: 733534002 / 164909002 LBBB,
  713427006 / 59118001 RBBB, 698252002 NSIVCB, 82226007 diffuse IV block positive; pacing codes
  (10370003, 251268003, 251266004), 6374002 (BBB of unstated kind) and 74390002 (WPW) unknown.
  As for the model, a code's absence is a negative, although the CPSC and PTB records there only
  code some diagnoses (e.g. no rhythm code at all).
- LUDB (``ludb_dev``, 40 records): the cardiologists' diagnoses in ``ludb.csv``: Rhythms (sinus
  rhythm / bradycardia / tachycardia), Electric axis (left / right axis deviation; normal,
  horizontal, vertical negatives; empty unknown), Conduction abnormalities (I degree AV block;
  complete RBBB / LBBB or non-specific IV conduction delay for wide QRS, paced records unknown),
  Hypertrophies (left ventricular hypertrophy). LUDB states no QT, voltage or short-PR findings.
  Every lead of every ludb_dev record is scaled to exactly 1 mV peak to peak (each lead's gain in
  the header equals its digital range), so the voltage rules (low voltage, Sokolow-Lyon, Cornell)
  are "not evaluable" there; the axes keep their signs but not their exact angles under that
  scaling, and the model sees rescaled leads too.

The rule table and the evaluation table go into the generated section of
``docs/measurements_statements.md``; everything, with per-record outcomes, into
``bench/results/statements_evaluation.json``.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecgcore.config import REPO_ROOT
from ecgcore.io import read
from ecgcore.labels import encode, encode_ptbxl, known_mask, label_index
from ecgcore.measurements import ALGORITHM_VERSION, STATEMENT_RULES, assess_statements, measure
from ecgcore.record import Record
from train.metrics import bootstrap_ci, confusion_metrics, fast_auroc, wilson_interval
from train.paths import SHARED_DATA_DIR

DOC = REPO_ROOT / "docs" / "measurements_statements.md"
RESULTS = REPO_ROOT / "bench" / "results" / "statements_evaluation.json"
BEGIN = "<!-- BEGIN GENERATED: python -m scripts.evaluate_statements -->"
END = "<!-- END GENERATED -->"
DATASETS = ("ptbxl", "ludb", "cinc2020")
# the measurement algorithm's files (the statement rules are reported separately)
ALGORITHM_PATHS = ("ecgcore/measurements", ":(exclude)ecgcore/measurements/statements.py",
                   ":(exclude)ecgcore/measurements/calipers.py", "ecgcore/leads.py")
DATASET_NAMES = {"ptbxl": "PTB-XL subset", "ludb": "ludb_dev", "cinc2020": "cinc2020_sample"}

# -- references ------------------------------------------------------------------------------------
# A reference is a key of Case.reference (True / False / None = unknown); its ECGFounder label (for
# the model's AUROC) or None; and the statements it judges.

WIDE_QRS = "wide QRS (complete BBB or IVCD)"


@dataclass(frozen=True)
class Reference:
    key: str
    label: str | None  # ECGFounder label whose model output is scored against it
    statements: tuple[str, ...]


REFERENCES: tuple[Reference, ...] = (
    Reference("SINUS RHYTHM", "SINUS RHYTHM", ("sinus_rhythm",)),
    Reference("SINUS BRADYCARDIA", "SINUS BRADYCARDIA", ("sinus_bradycardia",)),
    Reference("SINUS TACHYCARDIA", "SINUS TACHYCARDIA", ("sinus_tachycardia",)),
    Reference("WITH 1ST DEGREE AV BLOCK", "WITH 1ST DEGREE AV BLOCK", ("first_degree_av_block",)),
    Reference("WITH SHORT PR", "WITH SHORT PR", ("short_pr",)),
    Reference(WIDE_QRS, None, ("wide_qrs",)),
    Reference("LEFT AXIS DEVIATION", "LEFT AXIS DEVIATION", ("left_axis_deviation",)),
    Reference("RIGHT AXIS DEVIATION", "RIGHT AXIS DEVIATION", ("right_axis_deviation",)),
    Reference("RIGHT SUPERIOR AXIS DEVIATION", "RIGHT SUPERIOR AXIS DEVIATION", ("extreme_axis_deviation",)),
    Reference("PROLONGED QT", "PROLONGED QT", ("prolonged_qtc",)),
    Reference("LOW VOLTAGE QRS", "LOW VOLTAGE QRS", ("low_voltage",)),
    Reference("VOLTAGE CRITERIA FOR LEFT VENTRICULAR HYPERTROPHY", "VOLTAGE CRITERIA FOR LEFT VENTRICULAR HYPERTROPHY",
              ("lvh_sokolow_lyon", "lvh_cornell")),
    Reference("LEFT VENTRICULAR HYPERTROPHY", "LEFT VENTRICULAR HYPERTROPHY", ("lvh_sokolow_lyon", "lvh_cornell")),
)
MAPPED_KEYS = tuple(r.key for r in REFERENCES if r.key != WIDE_QRS and not r.key.endswith("AXIS DEVIATION"))

PTBXL_AXIS = {  # heart_axis -> (left axis deviation, right axis deviation); None = unknown
    "ALAD": (True, False), "LAD": (False, False), "MID": (False, False), "AXR": (False, False),
    "AXL": (None, False), "RAD": (False, True), "ARAD": (False, True),
}
PTBXL_WIDE, PTBXL_WIDE_UNKNOWN = {"CLBBB", "CRBBB", "IVCD"}, {"PACE", "WPW"}
SNOMED_WIDE = {"733534002", "164909002", "713427006", "59118001", "698252002", "82226007"}
SNOMED_WIDE_UNKNOWN = {"10370003", "251268003", "251266004", "6374002", "74390002"}
LUDB_WIDE = ("complete right bundle branch block", "complete left bundle branch block",
             "non-specific intravintricular conduction delay")  # LUDB's spelling


# ludb_dev's leads are each scaled to exactly 1 mV peak to peak (all 40 records: every lead's gain in
# the header equals its digital range), so no voltage criterion can be judged there. The frontal axes
# (and the sinus rules' P axis) depend on the signs of the limb-lead areas, which the scaling keeps,
# but their exact angles are distorted: read those LUDB rows with that in mind.
LUDB_SCALED = "ludb_dev leads are each scaled to 1 mV peak to peak"
NOT_EVALUABLE = {("ludb", code): LUDB_SCALED for code in ("low_voltage", "lvh_sokolow_lyon", "lvh_cornell")}


@dataclass
class Case:
    """One labelled record: how to load it, sex, age and its reference values."""

    dataset: str
    name: str
    load: Callable[[], Record]
    sex: str | None
    age: float | None
    reference: dict[str, bool | None] = field(default_factory=dict)


def _mapped(y: np.ndarray, mask: np.ndarray, vocabulary_known: np.ndarray) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    for key in MAPPED_KEYS:
        i = label_index(key)
        out[key] = bool(y[i]) if (vocabulary_known[i] and mask[i]) else None
    return out


def _age(value: Any) -> float | None:
    try:
        age = float(value)
    except (TypeError, ValueError):
        return None
    return age if math.isfinite(age) and 0 <= age < 120 else None  # PTB-XL codes > 89 as 300


def ptbxl_cases(root: Path) -> Iterator[Case]:
    """PTB-XL at 500 Hz; sex 0 = male, 1 = female (as train/data/ptbxl.py)."""
    known = known_mask("scp")
    table = pd.read_csv(root / "ptbxl_database.csv")
    for row in table.itertuples(index=False):
        codes = ast.literal_eval(row.scp_codes)
        y, mask = encode_ptbxl(codes)
        ref = _mapped(y, mask, known)
        axis = row.heart_axis if isinstance(row.heart_axis, str) else None
        ref["LEFT AXIS DEVIATION"], ref["RIGHT AXIS DEVIATION"] = PTBXL_AXIS.get(axis, (None, None))
        ref["RIGHT SUPERIOR AXIS DEVIATION"] = None
        ref[WIDE_QRS] = None if PTBXL_WIDE_UNKNOWN & set(codes) else bool(PTBXL_WIDE & set(codes))
        path = (root / row.filename_hr).with_suffix(".hea")
        name = str(int(row.ecg_id))
        sex = {0: "M", 1: "F"}.get(int(row.sex)) if pd.notna(row.sex) else None
        yield Case("ptbxl", name, lambda path=path, name=name: read(path, record_name=name, allow_flat_leads=True),
                   sex, _age(row.age), ref)


def cinc2020_cases(root: Path) -> Iterator[Case]:
    """Every Challenge-format header under ``root`` (train/data/challenge.py's layout)."""
    from train.data.challenge import challenge_headers

    known = known_mask("snomed")
    for header in challenge_headers(root):
        record = read(header, record_name=header.stem, allow_flat_leads=True)
        codes = {str(c).strip() for c in record.labels}
        y, mask = encode(sorted(codes), "snomed", strict=False)
        ref = _mapped(y, mask, known)
        for key in ("LEFT AXIS DEVIATION", "RIGHT AXIS DEVIATION"):
            i = label_index(key)
            ref[key] = bool(y[i]) if mask[i] else None
        ref["RIGHT SUPERIOR AXIS DEVIATION"] = None
        ref[WIDE_QRS] = None if SNOMED_WIDE_UNKNOWN & codes else bool(SNOMED_WIDE & codes)
        yield Case("cinc2020", f"{header.parent.name}/{header.stem}",
                   lambda header=header: read(header, record_name=header.stem, allow_flat_leads=True),
                   record.sex, record.age, ref)


def _lines(value: Any) -> list[str]:
    return [line.strip().lower() for line in str(value).splitlines() if line.strip()] if pd.notna(value) else []


def ludb_cases(root: Path) -> Iterator[Case]:
    table = pd.read_csv(root / "ludb.csv")
    for values in table.to_dict("records"):
        rhythms = _lines(values["Rhythms"])
        axis = " ".join(_lines(values["Electric axis of the heart"]))
        conduction = _lines(values["Conduction abnormalities"])
        hypertrophy = _lines(values["Hypertrophies"])
        paced = bool(_lines(values["Cardiac pacing"]))
        ref: dict[str, bool | None] = {key: None for key in MAPPED_KEYS}
        ref["SINUS RHYTHM"] = "sinus rhythm" in rhythms
        ref["SINUS BRADYCARDIA"] = "sinus bradycardia" in rhythms
        ref["SINUS TACHYCARDIA"] = "sinus tachycardia" in rhythms
        ref["WITH 1ST DEGREE AV BLOCK"] = "i degree av block" in conduction
        ref["LEFT VENTRICULAR HYPERTROPHY"] = "left ventricular hypertrophy" in hypertrophy
        ref["LEFT AXIS DEVIATION"] = ("left axis deviation" in axis) if axis else None
        ref["RIGHT AXIS DEVIATION"] = ("right axis deviation" in axis) if axis else None
        ref["RIGHT SUPERIOR AXIS DEVIATION"] = None
        ref[WIDE_QRS] = None if paced else any(c in LUDB_WIDE for c in conduction)
        name = str(int(values["ID"]))
        path = root / "data" / f"{name}.hea"
        sex = str(values["Sex"]).strip() or None
        yield Case("ludb", name, lambda path=path, name=name: read(path, record_name=name, allow_flat_leads=True), sex,
                   _age(str(values["Age"]).strip()), ref)


def load_cases(data: Path, datasets: tuple[str, ...]) -> list[Case]:
    makers = {"ptbxl": (ptbxl_cases, "ptbxl_subset"), "ludb": (ludb_cases, "ludb_dev"),
              "cinc2020": (cinc2020_cases, "cinc2020_sample")}
    cases: list[Case] = []
    for name in datasets:
        maker, folder = makers[name]
        cases.extend(maker(data / folder))
    return cases


# -- running -----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    case: Case
    made: set[str]
    not_assessable: dict[str, str]
    probabilities: np.ndarray | None
    error: str | None = None
    values: dict[str, Any] = field(default_factory=dict)  # the global measurements as printed, flags
    criteria: dict[str, str] = field(default_factory=dict)  # statement code -> its criterion text


def run(cases: list[Case], predictor) -> list[Outcome]:
    outcomes = []
    for case in tqdm(cases, desc="Measuring and scoring", unit="ECG", dynamic_ncols=True):
        try:
            record = case.load()
            m = measure(record, start_s=0.0)
            assessments = assess_statements(m, sex=case.sex, age=case.age)
            probabilities = predictor.probabilities(predictor.prepare(record, start_s=0.0)[np.newaxis])[0]
        except Exception as exc:  # noqa: BLE001 - a record that fails is counted, never stops the run
            outcomes.append(Outcome(case, set(), {}, None, f"{type(exc).__name__}: {exc}"))
            continue
        values = {**m.global_values(), "paced": m.paced, "atrial_fibrillation": m.atrial_fibrillation,
                  "p_waves_precede_qrs": m.p_waves_precede_qrs}
        outcomes.append(Outcome(case, {a.code for a in assessments if a.made},
                                {a.code: a.not_assessable for a in assessments if a.not_assessable}, probabilities,
                                values=values,
                                criteria={a.code: a.statement.criterion_text for a in assessments if a.made}))
    return outcomes


# -- metrics -----------------------------------------------------------------------------------------


def oof_metrics(card) -> dict[str, dict[str, Any]]:
    per_label = (card.metrics or {}).get("per_label") or {}
    return dict(per_label) if isinstance(per_label, dict) else {}


def evaluate(outcomes: list[Outcome], predictor, n_boot: int) -> list[dict[str, Any]]:
    trained = set(predictor.card.trained_labels)
    oof = oof_metrics(predictor.card)
    rows = []
    pairs = [(rule.code, ri, ref) for rule in STATEMENT_RULES for ri, ref in enumerate(REFERENCES)
             if rule.code in ref.statements]
    for rule_code, ri, ref in pairs:
        for dataset in sorted({o.case.dataset for o in outcomes}, key=DATASETS.index):
            scored = [o for o in outcomes if o.case.dataset == dataset and o.error is None]
            known = [o for o in scored if o.case.reference.get(ref.key) is not None]
            row: dict[str, Any] = {"statement": rule_code, "dataset": dataset, "reference": ref.key,
                                   "model_label": ref.label, "n_records": len(scored), "n_known": len(known)}
            y = np.array([bool(o.case.reference[ref.key]) for o in known], dtype=bool)
            stated = np.array([rule_code in o.made for o in known], dtype=bool)
            not_assessable = np.array([rule_code in o.not_assessable for o in known], dtype=bool)
            row.update(positives=int(y.sum()), negatives=int((~y).sum()),
                       not_assessable=int(not_assessable.sum()),
                       not_assessable_positives=int((not_assessable & y).sum()),
                       stated=int(stated.sum()))
            if (dataset, rule_code) in NOT_EVALUABLE:
                row["status"] = f"not evaluable: {NOT_EVALUABLE[dataset, rule_code]}"
                rows.append(row)
                continue
            if not known:
                row["status"] = "no reference in this dataset"
                rows.append(row)
                continue
            tp, fn = int((stated & y).sum()), int((~stated & y).sum())
            tn, fp = int((~stated & ~y).sum()), int((stated & ~y).sum())
            row.update(tp=tp, fn=fn, tn=tn, fp=fp)
            sens, slo, shi = wilson_interval(tp, tp + fn)
            spec, plo, phi = wilson_interval(tn, tn + fp)
            row.update(sensitivity=sens, sensitivity_ci=[slo, shi], specificity=spec, specificity_ci=[plo, phi])
            row["model"] = _model_metrics(ref, known, y, predictor, trained, n_boot, seed=ri)
            if dataset == "ptbxl" and ref.label in oof:
                row["model"]["ptbxl_out_of_fold_auroc"] = oof[ref.label].get("auroc")
                row["model"]["ptbxl_out_of_fold_auroc_ci"] = oof[ref.label].get("auroc_ci")
            row["status"] = "ok"
            rows.append(row)
    return rows


def _model_metrics(ref: Reference, known: list[Outcome], y: np.ndarray, predictor, trained: set[str],
                   n_boot: int, seed: int) -> dict[str, Any]:
    if ref.label is None:
        return {"status": "no ECGFounder label"}
    if ref.label not in trained:
        return {"status": "not trained"}
    if y.all() or not y.any():
        return {"status": "one class only"}
    j = predictor.label_index(ref.label)
    scores = np.array([o.probabilities[j] for o in known])
    auroc, lo, hi = bootstrap_ci(y.astype(int), scores, fast_auroc, n_boot=n_boot, seed=seed)
    threshold = float(predictor.thresholds[j])
    at = confusion_metrics(y, scores, threshold)
    return {"status": "ok", "auroc": auroc, "auroc_ci": [lo, hi], "threshold": threshold,
            "sensitivity": at["sensitivity"], "specificity": at["specificity"]}


# -- reporting ---------------------------------------------------------------------------------------


def _pct(value: float, ci: list[float]) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.2f} ({ci[0]:.2f}–{ci[1]:.2f})"


def _model_cell(row: dict[str, Any]) -> tuple[str, str]:
    model = row.get("model") or {}
    status = model.get("status")
    if status != "ok":
        return (status or "–"), "–"
    auroc = f"{model['auroc']:.2f} ({model['auroc_ci'][0]:.2f}–{model['auroc_ci'][1]:.2f})"
    if row["dataset"] == "ptbxl":
        auroc += " in-sample"
        if model.get("ptbxl_out_of_fold_auroc") is not None:
            ci = model["ptbxl_out_of_fold_auroc_ci"]
            auroc += f"; OOF {model['ptbxl_out_of_fold_auroc']:.2f} ({ci[0]:.2f}–{ci[1]:.2f})"
    at = f"{model['sensitivity']:.2f} / {model['specificity']:.2f}"
    return auroc, at


def rule_table() -> list[str]:
    lines = ["| code | statement | ECGFounder label | criterion | source | not made |", "|---|---|---|---|---|---|"]
    for rule in STATEMENT_RULES:
        gates = []
        if rule.sinus:
            gates.append("atrial fibrillation")
        if rule.not_when_paced:
            gates.append("paced rhythm")
        if rule.min_age is not None:
            gates.append(f"age < {rule.min_age:g}")
        inputs = ", ".join(f"`{i}`" for i in rule.inputs)
        gates.append(f"{inputs} missing or unreliable")
        lines.append(f"| `{rule.code}` | {rule.text} | {rule.ecgfounder_label or '– (none)'} | {rule.criterion} | "
                     f"{rule.reference} | {'; '.join(gates)} |")
    return lines


def evaluation_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [("| statement | dataset | reference | pos / neg | stated | not assessable (pos) | sensitivity (95% CI) | "
              "specificity (95% CI) | model AUROC (95% CI) | model sens / spec at card threshold |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        ref = "wide QRS: CBBB or IVCD" if row["reference"] == WIDE_QRS else row["reference"]
        if row["status"] != "ok":
            lines.append(f"| `{row['statement']}` | {DATASET_NAMES[row['dataset']]} | {ref} | – | – | – | "
                         f"{row['status']} | | | |")
            continue
        auroc, at = _model_cell(row)
        lines.append(
            f"| `{row['statement']}` | {DATASET_NAMES[row['dataset']]} | {ref} | "
            f"{row['positives']} / {row['negatives']} | "
            f"{row['stated']} | {row['not_assessable']} ({row['not_assessable_positives']}) | "
            f"{_pct(row['sensitivity'], row['sensitivity_ci'])} | {_pct(row['specificity'], row['specificity_ci'])} | "
            f"{auroc} | {at} |")
    return lines


EVALUATION_NOTE = (
    "Sensitivity and specificity of the statement over the records whose reference is known (Wilson "
    "95% CIs); *stated*: records given the statement; *not assessable*: records where the rule could "
    "not be applied (counted as not stated), in brackets how many of them are positives. The model "
    "columns score the ECGFounder label of the reference: AUROC with a bootstrap 95% CI, "
    "and sensitivity / specificity at the card's threshold; *not trained*: the label is not among the "
    "card's trained labels; *one class only*: the known records are all negative (or all positive). On "
    "PTB-XL the model saw these records in training (*in-sample*); *OOF* is the card's out-of-fold "
    "AUROC for the same label and records."
)


def generated_section(result: dict[str, Any]) -> str:
    meta = result["run"]
    counts = ", ".join(f"{DATASET_NAMES[k]} {v}" for k, v in meta["records"].items())
    errors = meta["errors"]
    dirty = " with uncommitted changes" if meta["algorithm_dirty"] else ""
    lines = [
        BEGIN,
        "",
        f"Generated {meta['date']} by `python -m scripts.evaluate_statements` "
        f"({meta['seconds']:.0f} s): measurement algorithm {meta['algorithm_version']} at commit "
        f"`{meta['algorithm_commit'].split(' ')[0]}`{dirty}, statement rules at "
        f"`{meta['statements_commit'].split(' ')[0]}`; "
        f"model `{meta['model']}` (card {meta['model_version']}); records: {counts}"
        + (f"; {len(errors)} record(s) failed: {', '.join(e['record'] for e in errors)}" if errors else "") + ".",
        "",
        "### The rules",
        "",
        *rule_table(),
        "",
        "### Evaluation",
        "",
        EVALUATION_NOTE,
        "",
        *evaluation_table(result["rows"]),
        "",
        END,
    ]
    return "\n".join(lines)


DOC_HEADER = """# Measurement-based statements

Statements made from the measurements, the way the classic interpretation programs work
(`ecgcore.measurements.statements(m, sex=None, age=None)`): each one comes with its criterion and
this ECG's numbers ("PR 236 ms > 200 ms"). They are a separate list from the model's findings,
labelled `source="measurement"`, and name the ECGFounder label they correspond to where one
exists. The thresholds and their sources are documented in `ecgcore/measurements/statements.py`
(one table, `STATEMENT_RULES`).

How to read the evaluation below:

- A statement is only as good as the measurement under it: when the delineation misses a P wave
  there is no PR and so no AV-block statement; these cases are counted as "not stated" and
  listed as *not assessable*.
- The references were written by people reading the same ECGs with their own conventions (PTB-XL
  partly from a cart's automatic report, confirmed by cardiologists; LUDB by cardiologists; the
  CinC sample by each hospital's practice). A criterion applied exactly can still disagree with a
  reader who used another threshold (e.g. LVH stated on clinical grounds, without voltage).
- Positives are few (often fewer than 10): the CIs are wide and say more than the point values.
- ludb_dev's leads are each scaled to exactly 1 mV peak to peak (all 40 records), so its voltages
  are not the patients': the voltage rules are not evaluated there, its axes are distorted (their
  signs, and so mostly the axis categories, survive the scaling) and the model sees rescaled leads.
- The model's AUROC on PTB-XL is in-sample (the default model was trained on these 434 records);
  its out-of-fold AUROC from the card is the fair comparison there. The CinC 2020 sample and LUDB
  were not used in training.

Rerun: `python -m scripts.evaluate_statements` (2-5 minutes on 2 CPUs); the full results,
with per-record measurements and outcomes, are in `bench/results/statements_evaluation.json`.

"""


def write_doc(section: str, path: Path = DOC) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else DOC_HEADER
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def results_json(result: dict[str, Any]) -> str:
    """Indented, except the per-record outcomes: one line per record."""
    records = result["records"]
    text = json.dumps({**result, "records": "@RECORDS@"}, indent=1, ensure_ascii=False)
    lines = ",\n  ".join(json.dumps(r, ensure_ascii=False) for r in records)
    return text.replace('"@RECORDS@"', f"[\n  {lines}\n ]") + "\n"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA_DIR)
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma list of {', '.join(DATASETS)}")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=None, help="first N records of each dataset (a quick check)")
    parser.add_argument("--no-write", action="store_true", help="print the table; write neither the doc nor the JSON")
    args = parser.parse_args(argv)
    datasets = tuple(d.strip() for d in args.datasets.split(",") if d.strip())
    unknown = set(datasets) - set(DATASETS)
    if unknown:
        parser.error(f"unknown dataset(s) {', '.join(sorted(unknown))}; choose from {', '.join(DATASETS)}")

    from ecgcore.predict import Predictor

    started = time.perf_counter()
    predictor = Predictor.default(12)
    cases = load_cases(args.data, datasets)
    if args.limit:
        cases = [c for d in datasets for c in [c for c in cases if c.dataset == d][: args.limit]]
    outcomes = run(cases, predictor)
    rows = evaluate(outcomes, predictor, args.n_boot)
    result = {
        "run": {
            "date": dt.date.today().isoformat(),
            "seconds": time.perf_counter() - started,
            "algorithm_version": ALGORITHM_VERSION,
            "algorithm_commit": _git("log", "-1", "--format=%h %s", "--", *ALGORITHM_PATHS)[:120],
            "algorithm_dirty": bool(_git("status", "--porcelain", "--", *ALGORITHM_PATHS)),
            "statements_commit": _git("log", "-1", "--format=%h %s", "--", "ecgcore/measurements/statements.py")[:120],
            "model": predictor.name,
            "model_version": predictor.card.version,
            "model_trained_labels": list(predictor.card.trained_labels),
            "records": {d: sum(o.case.dataset == d for o in outcomes) for d in datasets},
            "errors": [{"dataset": o.case.dataset, "record": o.case.name, "error": o.error}
                       for o in outcomes if o.error],
            "n_boot": args.n_boot,
        },
        "rules": [{"code": r.code, "text": r.text, "ecgfounder_label": r.ecgfounder_label, "criterion": r.criterion,
                   "reference": r.reference, "inputs": list(r.inputs), "sinus": r.sinus,
                   "not_when_paced": r.not_when_paced, "min_age": r.min_age} for r in STATEMENT_RULES],
        "rows": rows,
        "records": [{"dataset": o.case.dataset, "record": o.case.name, "sex": o.case.sex, "age": o.case.age,
                     "measurements": o.values, "statements": o.criteria, "not_assessable": o.not_assessable,
                     "reference_positive": sorted(k for k, v in o.case.reference.items() if v),
                     "reference_unknown": sorted(k for k, v in o.case.reference.items() if v is None),
                     "error": o.error}
                    for o in outcomes],
    }
    section = generated_section(result)
    print("\n".join(evaluation_table(rows)))
    if not args.no_write and not args.limit:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(results_json(_json_ready(result)), encoding="utf-8")
        write_doc(section)
        print(f"wrote {DOC.relative_to(REPO_ROOT)} and {RESULTS.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
