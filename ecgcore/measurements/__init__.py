"""Global ECG measurements (rate, PR, QRS, QT/QTc, axes, amplitudes) with their fiducials.

    m = ecgcore.measure(record)          # -> Measurements; None + a reason where not measurable
    m.pr_ms, m.why_missing("pr_ms")
    ecgcore.measurements.delineate_beats(record)   # per-lead, per-beat P/QRS/T fiducials
    ecgcore.measurements.statements(m, sex="F")     # measurement-based statements ("PR 236 ms > 200 ms")

The algorithm and every parameter are in ``params.py``; its accuracy on LUDB is in
docs/measurements.md (``python -m bench.measurement_accuracy``).
"""

from ecgcore.measurements.pipeline import delineate_beats, measure
from ecgcore.measurements.params import ALGORITHM_VERSION, DEFAULT_PARAMS, MeasurementParams
from ecgcore.measurements.statements import (
    STATEMENT_RULES,
    RuleOutcome,
    Statement,
    StatementRule,
    assess_statements,
    statements,
)
from ecgcore.measurements.types import (
    AMPLITUDE_NAMES,
    GLOBAL_MEASURE_BY_NAME,
    GLOBAL_MEASURE_NAMES,
    GLOBAL_MEASURES,
    BeatFiducials,
    GlobalMeasure,
    LeadAmplitudes,
    Measurements,
    Wave,
)

__all__ = [
    "ALGORITHM_VERSION",
    "AMPLITUDE_NAMES",
    "DEFAULT_PARAMS",
    "GLOBAL_MEASURES",
    "GLOBAL_MEASURE_BY_NAME",
    "GLOBAL_MEASURE_NAMES",
    "STATEMENT_RULES",
    "RuleOutcome",
    "BeatFiducials",
    "GlobalMeasure",
    "LeadAmplitudes",
    "MeasurementParams",
    "Measurements",
    "Statement",
    "StatementRule",
    "Wave",
    "assess_statements",
    "delineate_beats",
    "measure",
    "statements",
]
