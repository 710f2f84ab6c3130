"""Make the demo files in data/samples/demo/ from a shipped PTB-XL record: one per input format.

The app offers one demo per format a user may bring (CSV, EDF, NumPy, HL7 aECG XML, zipped
WFDB); all are the same real ECG (PTB-XL ecg_id 1) written by ecgcore's own writers, so the
demos also exercise every reader. Run from the repository root::

    python scripts/make_demo_samples.py
"""

from __future__ import annotations

import zipfile
from dataclasses import replace

from ecgcore.config import REPO_ROOT
from ecgcore.io import read
from ecgcore.io.writers import write_aecg, write_csv, write_edf, write_npz

SAMPLES = REPO_ROOT / "data" / "samples"
SOURCE_RECORD = SAMPLES / "ptbxl" / "00001_hr.hea"
SINGLE_LEAD_RECORD = SAMPLES / "cinc2017" / "A00054.hea"
SINGLE_LEAD_SECONDS = 30
DEMO = SAMPLES / "demo"

LICENSE_TEXT = """# Demo files (derived from PTB-XL)

Every file here is the same real 12-lead ECG, PTB-XL v1.0.3 record `00001_hr` (ecg_id 1, 500 Hz, 10 s,
labelled NORM), shipped unchanged in `../ptbxl/`, re-written by `scripts/make_demo_samples.py` with
ecgcore's own writers:

- `ptbxl_00001_hr.csv`: `time_s` column + one column per lead, mV, 4 decimals.
- `ptbxl_00001_hr.edf`: EDF+, signals `ECG I` ... `ECG V6`, physical dimension uV, 16-bit.
- `ptbxl_00001_hr.npz`: `signal` float32 (12, 5000) mV, `fs`, `leads`.
- `ptbxl_00001_hr.xml`: HL7 aECG (urn:hl7-org:v3), rhythm series, 1 uV digits.
- `ptbxl_00001_hr_wfdb.zip`: the original `.hea` + `.dat`, zipped (the upload form of WFDB).

Changes from the original: format conversion only (values rounded to each format's resolution).

`cinc2017_A00054_lead_I.csv` is different: a single-lead AliveCor recording (CinC 2017 record
`A00054`, labelled A = atrial fibrillation, 300 Hz, shipped unchanged in `../cinc2017/`), written as a
`time_s,I` CSV as a smartwatch or handheld device would export lead I; the first 30 s. It is under
the Open Data Commons Attribution License v1.0 (ODC-By 1.0) of the PhysioNet/CinC Challenge 2017
data; cite Clifford GD et al., "AF Classification from a Short Single Lead ECG Recording: the
PhysioNet/Computing in Cardiology Challenge 2017", Computing in Cardiology 44 (2017).

## License

Creative Commons Attribution 4.0 International (CC BY 4.0), https://creativecommons.org/licenses/by/4.0/ ,
as the source data.

## Citation

Wagner P, Strodthoff N, Bousseljot R-D, Kreiseler D, Lunze FI, Samek W, Schaeffter T. PTB-XL, a large publicly
available electrocardiography dataset. Scientific Data 7, 154 (2020). https://doi.org/10.1038/s41597-020-0495-6 .
PhysioNet: https://doi.org/10.13026/kfzx-aw45 .
"""


def main() -> None:
    DEMO.mkdir(parents=True, exist_ok=True)
    record = read(SOURCE_RECORD)
    stem = "ptbxl_00001_hr"
    outputs = [
        write_csv(record, DEMO / f"{stem}.csv"),
        write_edf(record, DEMO / f"{stem}.edf"),
        write_npz(record, DEMO / f"{stem}.npz"),
        write_aecg(record, DEMO / f"{stem}.xml"),
    ]
    zip_path = DEMO / f"{stem}_wfdb.zip"
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for suffix in (".hea", ".dat"):
            member = SOURCE_RECORD.with_suffix(suffix)
            archive.write(member, arcname=member.name)
    outputs.append(zip_path)
    single = read(SINGLE_LEAD_RECORD)
    n = int(SINGLE_LEAD_SECONDS * single.fs)
    single = replace(single, signal=single.signal[:, :n])
    outputs.append(write_csv(single, DEMO / "cinc2017_A00054_lead_I.csv"))
    (DEMO / "LICENSE.md").write_text(LICENSE_TEXT, encoding="utf-8")
    for path in outputs:
        back = read(path)  # every demo must read back as the same ECG
        source = single if back.n_leads == 1 else record
        error_mv = float(abs(back.signal - source.signal).max())
        print(f"{path.relative_to(REPO_ROOT)}: {path.stat().st_size / 1024:.0f} KiB, {back!r}, max error {error_mv:.2g} mV")


if __name__ == "__main__":
    main()
