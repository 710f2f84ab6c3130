"""ecgcore.assess against ground truth built from real records (issue 20).

    python -m scripts.evaluate_assessment [--data DIR] [--limit N] [--no-write]

Ground truth is made from the PTB-XL subset (``../shared/data/ptbxl_subset``, 500 Hz; records 1-200
are dev data: the limits in ``ecgcore/assessment.py`` and ``ecgcore/reversal.py`` and the limb-lead
reversal model were set on them; records 201- are held out) by changing each record in a known way:

- **reversals**: every limb reversal and adjacent precordial swap by ``ecgcore.reversal.simulate_reversal``
  (exact electrode algebra); the unswapped records are the negatives (specificity).
- **muscle noise**: Gaussian white noise band-passed 20-150 Hz (2nd-order zero-phase Butterworth),
  scaled to an RMS of 0.02 / 0.05 / 0.15 mV on every lead (independent per lead).
- **baseline wander**: a sum of 4 sinusoids at random frequencies in 0.05-0.5 Hz with random
  phases, the sum scaled to 0.5 / 1.5 / 4 mV peak to peak, the same on every lead with a random gain 0.5-1.
- **mains**: a 50 Hz sinusoid (60 Hz on odd records) of amplitude 0.05 / 0.2 / 0.5 mV on every lead.
- **zeroed lead**: one random lead set to 0; **clipped lead**: one random lead clipped at 40% of its
  peak absolute value.

The lowest level of each noise is meant to stay interpretable, the highest not; the middle one is
reported as measured. Paced: ludb_dev records 45, 90, 95 ('Cardiac pacing' in ludb.csv) against the
other 37 (ludb_dev is dev data too). Writes docs/assessment.md, bench/results/assessment.json (metrics) and
bench/results/assessment_rows.csv.gz (one row per case).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecgcore.assessment import assess
from ecgcore.config import REPO_ROOT
from ecgcore.io import read
from ecgcore.measurements.filters import bandpass
from ecgcore.reversal import REVERSALS, simulate_reversal
from train.paths import SHARED_DATA_DIR

OPERATING_POINT = (
    "**Operating point rule.** A detector may make a record 'not interpretable' only when it keeps >= 99% "
    "specificity on the clean dev records. Hard calls (`reversal`): RA/RL and LA/RL (flat II / III), then LA/RA "
    "and RA/LL from one multinomial logistic model over {none, LA/RA, LA/LL, RA/LL} (frontal P/QRS/T axes and "
    "the limb leads' correlation with V1, V5, V6; fitted on dev records 1-200 by scripts/fit_reversal_model.py; "
    "a reversal is called when it is the most probable class and above its threshold, LA/RA 0.7, RA/LL 0.6, "
    "read off the dev out-of-fold table in bench/results/reversal_model_fit.json), so the reversal types "
    "compete instead of RA/LL, checked first, taking LA/RA records. LA/LL (the same model, threshold 0.7) and "
    "the adjacent precordial swaps (V1->V6 shape path) do not reach the rule: they are `possible_reversals` "
    "with a `warnings` line and leave `interpretable` alone (rows 'possible' below). A detected LA/RA, LA/LL, "
    "RA/LL or precordial swap can be viewed undone (`ecgcore.reversal.correct_reversal`, the review page's "
    "'View corrected leads'); RA/RL and LA/RL lose a potential and cannot. Saturation needs one 100 ms run at "
    "the lead's extreme or 3+ runs of 20 ms, away from the first and last 0.25 s (PTB-XL leaves flat 50-60 ms "
    "stretches and a flat last 100 ms on clean leads).")
DOC = REPO_ROOT / "docs" / "assessment.md"
JSON = REPO_ROOT / "bench" / "results" / "assessment.json"
ROWS = REPO_ROOT / "bench" / "results" / "assessment_rows.csv.gz"
DEV_RECORDS = 200  # PTB-XL subset records 1-200 (file order): limits and the limb-lead model were fitted on these
HARD = ("LA/RA", "RA/LL", "RA/RL", "LA/RL")  # detectors allowed to make a record not interpretable
LEVELS = {"muscle": (0.02, 0.05, 0.15), "wander": (0.5, 1.5, 4.0), "mains": (0.05, 0.2, 0.5)}


def wilson(k: int, n: int) -> tuple[float, float, float]:
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    z, p = 1.96, k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return p, max(0.0, c - h), min(1.0, c + h)


def _with(record, signal):
    return dataclasses.replace(record, signal=np.asarray(signal, dtype=np.float32), allow_flat_leads=True)


def corruptions(record, rng: np.random.Generator, odd: bool):
    x = np.asarray(record.signal, dtype=np.float64)
    fs, n = record.fs, record.n_samples
    t = np.arange(n) / fs
    for kind in REVERSALS:
        yield "reversal", kind, simulate_reversal(record, kind)
    for level in LEVELS["muscle"]:
        noise = bandpass(rng.normal(size=x.shape), (20.0, 150.0), fs)
        noise *= level / noise.std(axis=1, keepdims=True)
        yield "muscle", level, _with(record, x + noise)
    for level in LEVELS["wander"]:
        w = sum(np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t + rng.uniform(0, 2 * np.pi)) for _ in range(4))
        w = level * w / np.ptp(w)
        yield "wander", level, _with(record, x + rng.uniform(0.5, 1.0, size=(x.shape[0], 1)) * w)
    for level in LEVELS["mains"]:
        yield "mains", level, _with(record, x + level * np.sin(2 * np.pi * (60.0 if odd else 50.0) * t))
    lead = int(rng.integers(x.shape[0]))
    z = x.copy()
    z[lead] = 0.0
    yield "zeroed", record.leads[lead], _with(record, z)
    c = x.copy()
    top = 0.4 * np.abs(c[lead]).max()
    c[lead] = np.clip(c[lead], -top, top)
    yield "clipped", record.leads[lead], _with(record, c)


def run(data: Path, limit: int | None) -> dict:
    table = pd.read_csv(data / "ptbxl_subset" / "ptbxl_database.csv")
    if limit:
        table = table.iloc[:limit]
    rng = np.random.default_rng(20)
    rows = []
    for j, row in enumerate(tqdm(table.itertuples(index=False), total=len(table), desc="PTB-XL", unit="rec")):
        path = (data / "ptbxl_subset" / row.filename_hr).with_suffix(".hea")
        record = read(path, record_name=str(int(row.ecg_id)), allow_flat_leads=True)
        split = "dev" if j < DEV_RECORDS else "held-out"
        a = assess(record)
        rows.append({"record": record.record_name, "kind": "clean", "level": None, "interpretable": a.interpretable,
                     "reversal": a.reversal, "possible": a.possible_reversals, "paced": a.paced,
                     "reasons": a.reasons, "split": split})
        for kind, level, rec in corruptions(record, rng, j % 2 == 1):
            a = assess(rec)
            rows.append({"record": record.record_name, "kind": kind, "level": level, "interpretable": a.interpretable,
                         "reversal": a.reversal, "possible": a.possible_reversals, "paced": a.paced,
                     "reasons": a.reasons, "split": split})
    ludb = pd.read_csv(data / "ludb_dev" / "ludb.csv")
    for values in tqdm(ludb.to_dict("records"), desc="ludb_dev", unit="rec"):
        name = str(int(values["ID"]))
        record = read(data / "ludb_dev" / "data" / f"{name}.hea", record_name=name, allow_flat_leads=True)
        a, split = assess(record), "ludb_dev"
        rows.append({"record": f"ludb/{name}", "kind": "ludb", "level": bool(pd.notna(values["Cardiac pacing"])
                     and str(values["Cardiac pacing"]).strip()), "interpretable": a.interpretable,
                     "reversal": a.reversal, "possible": a.possible_reversals, "paced": a.paced,
                     "reasons": a.reasons, "split": split})
    return {"rows": rows, "n_ptbxl": len(table)}


def metrics(rows: list[dict]) -> list[dict]:
    clean = [r for r in rows if r["kind"] == "clean"]
    out = []

    def add(detector, case, k, n, what, negatives=None):
        p, lo, hi = wilson(k, n)
        out.append({"detector": detector, "case": case, "metric": what, "k": k, "n": n, "value": p, "ci": [lo, hi],
                    **({"specificity_on": negatives} if negatives else {})})

    add("interpretable", "clean PTB-XL", sum(not r["interpretable"] for r in clean), len(clean),
        "false 'not interpretable' rate")
    for kind in REVERSALS:
        hits = [r for r in rows if r["kind"] == "reversal" and r["level"] == kind]
        if kind in HARD:
            add("reversal", kind, sum(r["reversal"] == kind for r in hits), len(hits), "sensitivity (exact type)")
            add("reversal", kind, sum(r["reversal"] != kind for r in clean), len(clean), "specificity (clean records)")
        else:
            add("possible", kind, sum(kind in r.get("possible", []) for r in hits), len(hits),
                "sensitivity (warning, exact type)")
            add("possible", kind, sum(kind not in r.get("possible", []) for r in clean), len(clean),
                "specificity (no warning, clean records)")
    add("reversal", "any", sum(r["reversal"] is None for r in clean), len(clean), "specificity (no reversal reported)")
    add("possible", "any", sum(not r.get("possible") for r in clean), len(clean), "specificity (no warning)")
    for kind in ("muscle", "wander", "mains"):
        for level in LEVELS[kind]:
            hits = [r for r in rows if r["kind"] == kind and r["level"] == level]
            add("quality", f"{kind} {level:g}", sum(not r["interpretable"] for r in hits), len(hits),
                "flagged 'not interpretable'")
    for kind in ("zeroed", "clipped"):
        hits = [r for r in rows if r["kind"] == kind]
        add("quality", f"{kind} lead", sum(not r["interpretable"] for r in hits), len(hits), "sensitivity")
    ludb = [r for r in rows if r["kind"] == "ludb"]
    paced = [r for r in ludb if r["level"]]
    unpaced = [r for r in ludb if not r["level"]]
    add("paced", "ludb_dev paced (45, 90, 95)", sum(r["paced"] for r in paced), len(paced), "sensitivity")
    add("paced", "ludb_dev not paced", sum(not r["paced"] for r in unpaced), len(unpaced), "specificity")
    return out


def table(result: dict) -> str:
    lines = ["| detector | case | metric | k / n | value (95% CI) |", "|---|---|---|---|---|"]
    for m in result["metrics"]:
        v = "n/a" if m["n"] == 0 else f"{m['value']:.1%} ({m['ci'][0]:.1%}-{m['ci'][1]:.1%})"
        lines.append(f"| {m['detector']} | {m['case']} | {m['metric']} | {m['k']} / {m['n']} | {v} |")
    return "\n".join(lines)


def _metric(metrics: list[dict], detector: str, case: str, metric: str) -> dict:
    return next(m for m in metrics if (m["detector"], m["case"], m["metric"]) == (detector, case, metric))


def status(result: dict) -> str:
    """The headline figures against the issue's targets, from the measured metrics (none typed in)."""
    def pct(metrics: list[dict], detector: str, case: str, metric: str) -> str:
        return f"{_metric(metrics, detector, case, metric)['value']:.1%}"

    every, held = result["metrics"], result["metrics_held_out"]
    sens = "sensitivity (exact type)"
    spec = "specificity (clean records)"
    false_rate = "false 'not interpretable' rate"
    la_ra_held = _metric(held, "reversal", "LA/RA", sens)["value"]
    la_ra_spec_held = _metric(held, "reversal", "LA/RA", spec)["value"]
    met = "met" if la_ra_held >= 0.95 and la_ra_spec_held >= 0.99 else "not met"
    return (f"**Status ({result['n_ptbxl']} records):** clean false 'not interpretable' "
            f"{pct(every, 'interpretable', 'clean PTB-XL', false_rate)} overall, "
            f"{pct(held, 'interpretable', 'clean PTB-XL', false_rate)} on held-out records (target <= 2%); LA/RA "
            f"sensitivity {pct(every, 'reversal', 'LA/RA', sens)} overall / {la_ra_held:.1%} held out at specificity "
            f"{pct(every, 'reversal', 'LA/RA', spec)} / {la_ra_spec_held:.1%} (target >= 95% at >= 99% held out: "
            f"{met}); RA/LL {pct(every, 'reversal', 'RA/LL', sens)} / {pct(held, 'reversal', 'RA/LL', sens)} at "
            f"{pct(every, 'reversal', 'RA/LL', spec)} / {pct(held, 'reversal', 'RA/LL', spec)}; any hard reversal "
            f"reported on a clean record: {1 - _metric(held, 'reversal', 'any', 'specificity (no reversal reported)')['value']:.1%}"
            " held out. LA/LL and precordial swaps are warnings only.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA_DIR)
    parser.add_argument("--limit", type=int, default=None, help="first N PTB-XL records only")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.data, args.limit)
    result["metrics"] = metrics(result["rows"])
    held_out = [r for r in result["rows"] if r.get("split") == "held-out"]
    result["metrics_held_out"] = metrics(held_out + [r for r in result["rows"] if r["kind"] == "ludb"])
    text = ("### All PTB-XL records (dev 1-200 + held-out 201-)\n\n" + table(result)
            + "\n\n### Held-out PTB-XL records only (201-, not used for any limit or the reversal model)\n\n"
            + table({"metrics": result["metrics_held_out"]}))
    print(text)
    if not args.no_write:
        JSON.parent.mkdir(parents=True, exist_ok=True)
        # The metrics stay readable in JSON; the per-case rows (tens of thousands) go compressed beside it.
        pd.DataFrame(result["rows"]).to_csv(ROWS, index=False, compression="gzip")
        JSON.write_text(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1, default=str))
        head = (__doc__ or "").split("\n\n", 2)[2]
        DOC.write_text("# Knowing when not to trust the model: `ecgcore.assess`\n\n" + status(result) + "\n\n"
                       f"PTB-XL records used: first {result['n_ptbxl']} of `ptbxl_subset`. Records 1-{DEV_RECORDS} "
                       "(file order) are the dev records: the limits, the limb-lead reversal model and its "
                       f"thresholds were set on them; records {DEV_RECORDS + 1}-{result['n_ptbxl']} were used "
                       "for evaluation only (second table).\n\n" + OPERATING_POINT + "\n\n" + head + "\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
