"""Electrode misplacement: limb-lead reversals and precordial lead swaps, simulated exactly and detected.

Simulation (``simulate_reversal``) goes through the electrode potentials, so the lead algebra is
exact rather than remembered. With the Wilson central terminal as reference (RA + LA + LL = 0):
RA = -(I + II) / 3, LA = RA + I, LL = RA + II. A reversal moves the cables; the leads are then
recomputed from the moved potentials (I = LA - RA, II = LL - RA, Goldberger's aVR/aVL/aVF) and
each precordial lead moves with the central terminal (V' = V - mean(RA', LA', LL')). The
neutral (right-leg, RL) electrode sits at nearly the left leg's potential, so a cable swapped
with RL reads LL: RA/RL makes lead II flat, LA/RL makes lead III flat. Resulting algebra:

- LA/RA: I -> -I, II <-> III, aVR <-> aVL, aVF unchanged
- LA/LL: I <-> II, III -> -III, aVL <-> aVF, aVR unchanged
- RA/LL: I -> -III, III -> -I, II -> -II, aVR <-> aVF, aVL unchanged
- RA/RL: I -> -III, II flat, III unchanged; V leads shift by II/3
- LA/RL: I -> II, II unchanged, III flat; V leads shift by III/3
- Vk/Vk+1: the two precordial rows swap

Correction (``correct_reversal``, for viewing): a swap of two recorded cables (LA/RA, LA/LL, RA/LL,
Vk/Vk+1) is undone by the same algebra; RA/RL and LA/RL lose a potential and cannot be undone.

Detection (``detect_reversal``) reads each lead's median beat (``ecgcore.measure``). Operating point
rule: only a detector with >= 99% specificity on the clean dev records (PTB-XL subset records 1-200)
makes a hard call (``reversal``, the record not interpretable); the others are ``possible`` (warnings).
Limits in ``ReversalParams``:

- hard, RA/RL, LA/RL: lead II (resp. III) flat next to strong limb leads (its RMS over the largest
  limb lead's RMS below ``neutral_flat_ratio``).
- hard, RA/LL: II and aVF (the old -II and aVR) anti-correlated with V6 over the whole median beat
  (dev: sensitivity 97.5%, specificity 99.5%).
- hard, LA/RA: a fixed logistic model (``LA_RA_COEF``) on cos of the frontal QRS, P and T axes (the
  reversal mirrors them around 90°) and the correlation of I with V6 (I inverted, V6 not: dextrocardia
  would turn V6 too), fitted on records 1-200 with simulated reversals, threshold 0.8.
- possible, LA/LL: the P wave larger in I than in II, and negative in III ("P-I > P-II"; weak by nature).
- possible, precordial swaps: the six V leads' QRS shapes should change smoothly V1 -> V6 (R-wave
  progression). A swap of Vk and Vk+1 is possible when putting them back in order shortens the
  path V1 -> V6 between the shapes by more than ``precordial_gain`` of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ecgcore.errors import LeadError
from ecgcore.leads import PRECORDIAL_LEADS, derive_limb_leads
from ecgcore.record import Record

LIMB_REVERSALS: tuple[str, ...] = ("LA/RA", "LA/LL", "RA/LL", "RA/RL", "LA/RL")
PRECORDIAL_SWAPS: tuple[str, ...] = tuple(f"{a}/{b}" for a, b in zip(PRECORDIAL_LEADS, PRECORDIAL_LEADS[1:]))
REVERSALS: tuple[str, ...] = LIMB_REVERSALS + PRECORDIAL_SWAPS

# Which source each electrode's cable reads after the reversal ("RL" reads the left leg's potential).
_CABLES: dict[str, dict[str, str]] = {
    "LA/RA": {"RA": "LA", "LA": "RA", "LL": "LL"},
    "LA/LL": {"RA": "RA", "LA": "LL", "LL": "LA"},
    "RA/LL": {"RA": "LL", "LA": "LA", "LL": "RA"},
    "RA/RL": {"RA": "LL", "LA": "LA", "LL": "LL"},
    "LA/RL": {"RA": "RA", "LA": "LL", "LL": "LL"},
}


@dataclass(frozen=True)
class ReversalLimit:
    name: str
    unit: str
    limit: float
    why: str


LA_RA_THRESHOLD_DEFAULT = 0.8


@dataclass(frozen=True)
class ReversalParams:
    """Limits of the reversal criteria (amplitudes in mV, areas in mV x ms)."""

    qrs_net_min: float = 0.05  # |net QRS| (mV, mean over the QRS) for a sign to count
    p_min_mv: float = 0.04  # a P wave smaller than this has no sign
    neutral_flat_ratio: float = 0.08  # lead RMS / largest limb lead RMS below this: flat
    ra_ll_corr_ii_v6: float = -0.1  # RA/LL: II inverted -> its whole-beat correlation with V6 below this ...
    ra_ll_corr_avf_v6: float = -0.3  # ... and aVF (now the old aVR) against V6 below this
    precordial_gain: float = 0.12  # relative shortening of the V1->V6 shape path (possible swap only)
    la_ra_min_probability: float = LA_RA_THRESHOLD_DEFAULT  # LA/RA model output above this: hard call


DEFAULT_REVERSAL_PARAMS = ReversalParams()


def electrode_potentials(lead_i: np.ndarray, lead_ii: np.ndarray) -> dict[str, np.ndarray]:
    """RA, LA, LL against the Wilson central terminal (their sum is zero) from leads I and II."""
    ra = -(lead_i + lead_ii) / 3.0
    return {"RA": ra, "LA": ra + lead_i, "LL": ra + lead_ii}


def _swap_cables(record: Record, kind: str) -> np.ndarray:
    """The signal of ``record`` with the cables of ``kind`` swapped, from the electrode potentials."""
    signal = np.array(record.signal, dtype=np.float64)
    index = {lead: i for i, lead in enumerate(record.leads)}
    if kind in PRECORDIAL_SWAPS:
        a, b = kind.split("/")
        if a not in index or b not in index:
            raise LeadError(f"{kind} needs leads {a} and {b}; the record has {', '.join(record.leads)}.")
        signal[[index[a], index[b]]] = signal[[index[b], index[a]]]
        return signal
    if "I" not in index or "II" not in index:
        raise LeadError("A limb-lead reversal needs leads I and II.")
    e = electrode_potentials(signal[index["I"]], signal[index["II"]])
    moved = {cable: e[source] for cable, source in _CABLES[kind].items()}
    lead_i, lead_ii = moved["LA"] - moved["RA"], moved["LL"] - moved["RA"]
    limb = {"I": lead_i, "II": lead_ii, **derive_limb_leads(lead_i, lead_ii)}
    shift = (moved["RA"] + moved["LA"] + moved["LL"]) / 3.0  # the new central terminal (old one is 0)
    for lead, i in index.items():
        if lead in limb:
            signal[i] = limb[lead]
        elif lead in PRECORDIAL_LEADS:
            signal[i] = signal[i] - shift
    return signal


def simulate_reversal(record: Record, kind: str) -> Record:
    """``record`` as the cart would have recorded it with the cables of ``kind`` swapped (exact)."""
    if kind not in REVERSALS:
        raise ValueError(f"Unknown reversal {kind!r}; known: {', '.join(REVERSALS)}.")
    metadata = {**record.metadata, "simulated_reversal": kind}
    return dataclasses.replace(record, signal=_swap_cables(record, kind), leads=record.leads, metadata=metadata,
                               allow_flat_leads=True)


# Reversals whose recording still holds every lead: a swap of two recorded cables (a transposition of
# RA, LA, LL, or of two V leads). A swap with the neutral (RL) cable loses a potential: RA/RL records
# LL in place of RA (leads I and II hold only -III and 0), LA/RL likewise; nothing can restore them.
CORRECTABLE_REVERSALS: tuple[str, ...] = ("LA/RA", "LA/LL", "RA/LL", *PRECORDIAL_SWAPS)


# Each correctable limb reversal as moves of the recorded leads: lead -> (sign, the lead it is read from).
# The table of the module docstring; a swap of two cables is its own inverse, so the same moves undo it.
# tests/ecgcore/test_reversal_correction.py checks it against the electrode algebra of simulate_reversal.
_LIMB_LEAD_MOVES: dict[str, dict[str, tuple[float, str]]] = {
    "LA/RA": {"I": (-1.0, "I"), "II": (1.0, "III"), "III": (1.0, "II"), "aVR": (1.0, "aVL"), "aVL": (1.0, "aVR"),
              "aVF": (1.0, "aVF")},
    "LA/LL": {"I": (1.0, "II"), "II": (1.0, "I"), "III": (-1.0, "III"), "aVR": (1.0, "aVR"), "aVL": (1.0, "aVF"),
              "aVF": (1.0, "aVL")},
    "RA/LL": {"I": (-1.0, "III"), "II": (-1.0, "II"), "III": (-1.0, "I"), "aVR": (1.0, "aVF"), "aVL": (1.0, "aVL"),
              "aVF": (1.0, "aVR")},
}


def correct_reversal(record: Record, kind: str) -> Record:
    """``record`` as it would have been recorded with the cables of ``kind`` in their right places.

    A swap of two recorded cables is its own inverse, so the same lead moves undo it (LA/RA: I -> -I,
    II <-> III, aVR <-> aVL). They move the recorded leads (each keeps its recorded samples, a limb lead
    the record lacks is derived from I and II); the central terminal is unchanged by such a swap, so the
    V leads are too (bar a V-lead swap, which swaps them back). For viewing: the stored record stays
    as recorded.
    """
    if kind not in CORRECTABLE_REVERSALS:
        if kind in REVERSALS:
            raise ValueError(f"A {kind} reversal cannot be corrected: the neutral (RL) cable took the place of a "
                             f"recorded one, whose potential is lost. Correctable: {', '.join(CORRECTABLE_REVERSALS)}.")
        raise ValueError(f"Unknown reversal {kind!r}; correctable: {', '.join(CORRECTABLE_REVERSALS)}.")
    recorded = np.asarray(record.signal)
    index = {lead: i for i, lead in enumerate(record.leads)}
    signal = np.array(recorded, copy=True)
    if kind in PRECORDIAL_SWAPS:
        signal = _swap_cables(record, kind).astype(recorded.dtype)
    else:
        if "I" not in index or "II" not in index:
            raise LeadError(f"Correcting a {kind} reversal needs leads I and II; the record has {', '.join(record.leads)}.")
        limb = {**derive_limb_leads(recorded[index["I"]], recorded[index["II"]]),
                **{lead: recorded[i] for lead, i in index.items()}}
        for lead, (sign, source) in _LIMB_LEAD_MOVES[kind].items():
            if lead in index:
                signal[index[lead]] = sign * limb[source]
    metadata = {key: value for key, value in record.metadata.items() if key != "simulated_reversal"}
    metadata["corrected_reversal"] = kind
    return dataclasses.replace(record, signal=signal, leads=record.leads, metadata=metadata, allow_flat_leads=True)


# -- detection ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReversalFinding:
    reversal: str | None  # a hard call: only detectors at >= 99% specificity on clean dev records
    criteria: dict[str, str]  # reversal -> the criterion text when it was met (hard calls)
    features: dict[str, float | None]
    possible: dict[str, str] = dataclasses.field(default_factory=dict)  # low-specificity detectors: warnings


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    d = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / d) if d > 0 else 0.0


def _features(m) -> dict[str, float | None]:
    """Per-lead net QRS (mean mV over the QRS), P amplitude (mV) and RMS (mV) from the median beats,
    the frontal P/QRS/T axes, and the whole-beat correlation of each limb lead's median beat with V6."""
    feats: dict[str, float | None] = {}
    if m.median_beats is None or m.fiducials is None:
        return feats
    median = np.asarray(m.median_beats, dtype=np.float64)
    on, off = m.fiducials.qrs.onset, m.fiducials.qrs.offset
    if on is None or off is None or off <= on:
        return feats
    base_from = max(0, on - int(round(0.02 * m.fs)))
    for i, lead in enumerate(m.leads):
        x = median[i] - np.median(median[i, base_from: on + 1])
        feats[f"qrs_{lead}"] = float(x[on: off + 1].mean())
        feats[f"rms_{lead}"] = float(np.sqrt(np.mean(x[on: off + 1] ** 2)))
        amp = m.amplitudes.get(lead)
        feats[f"p_{lead}"] = amp.p_mv if amp is not None else None
    if "V6" in m.leads:
        v6 = median[m.leads.index("V6")]
        for lead in ("I", "II", "III", "aVR", "aVL", "aVF"):
            if lead in m.leads:
                feats[f"corr_{lead}_V6"] = _corr(median[m.leads.index(lead)], v6)
    for wave in ("p", "qrs", "t"):
        axis = getattr(m, f"{wave}_axis_deg", None)
        feats[f"{wave}_axis"] = None if axis is None or not np.isfinite(axis) else float(axis)
    return feats


# LA/RA logistic model (fixed coefficients, see LA_RA_MODEL_NOTE): features are cos(QRS axis),
# cos(P axis) (0 without a P wave), cos(T axis) and the whole-beat correlation of I with V6.
# Fitted (scikit-learn LogisticRegression, C=1) on PTB-XL subset records 1-200 (dev, by file order):
# each clean record (label 0) and its simulate_reversal(.., "LA/RA") (label 1). Threshold 0.8 chosen on
# the same records (dev: sensitivity 96.5%, specificity 100%); records 201-434 were not used for fitting
# (held out there: sensitivity 97.4%, specificity 99.6%). LA/RA mirrors the frontal axes around 90°
# (axis' = 180° - axis: cos flips sign) and inverts I, so I stops resembling V6.
LA_RA_COEF: dict[str, float] = {"intercept": 0.0145, "cos_qrs": -2.4997, "cos_p": -0.9685, "cos_t": -1.6336,
                                "corr_I_V6": -2.1530}
LA_RA_MODEL_NOTE = ("logistic model on cos(QRS, P, T frontal axes) and corr(I, V6); fitted on PTB-XL subset "
                    "records 1-200 with simulated LA/RA reversals; threshold 0.8")


def la_ra_probability(f: dict[str, float | None]) -> float | None:
    """P(LA/RA reversal) from the fixed logistic model, or None when a feature is missing."""
    qrs, t, c = f.get("qrs_axis"), f.get("t_axis"), f.get("corr_I_V6")
    if qrs is None or t is None or c is None:
        return None
    p = f.get("p_axis")
    z = (LA_RA_COEF["intercept"] + LA_RA_COEF["cos_qrs"] * np.cos(np.radians(qrs))
         + LA_RA_COEF["cos_p"] * (np.cos(np.radians(p)) if p is not None else 0.0)
         + LA_RA_COEF["cos_t"] * np.cos(np.radians(t)) + LA_RA_COEF["corr_I_V6"] * c)
    return float(1.0 / (1.0 + np.exp(-z)))


def _shape_path(median: np.ndarray, order: list[int], on: int, off: int) -> float:
    """Sum of distances between consecutive precordial QRS shapes, each normalised by the mean RMS."""
    q = median[:, on: off + 1]
    q = q - q[:, :1]
    scale = float(np.sqrt(np.mean(q ** 2))) or 1.0
    return float(sum(np.sqrt(np.mean((q[a] - q[b]) ** 2)) for a, b in zip(order, order[1:])) / scale)


def precordial_path_gains(m) -> dict[str, float]:
    """For each adjacent swap, the relative shortening of the V1->V6 shape path when it is undone."""
    if m.median_beats is None or m.fiducials is None or not all(v in m.leads for v in PRECORDIAL_LEADS):
        return {}
    on, off = m.fiducials.qrs.onset, m.fiducials.qrs.offset
    if on is None or off is None or off <= on:
        return {}
    median = np.asarray(m.median_beats, dtype=np.float64)[[m.leads.index(v) for v in PRECORDIAL_LEADS]]
    base = _shape_path(median, list(range(6)), on, off)
    if base <= 0:
        return {}
    gains = {}
    for k, swap in enumerate(PRECORDIAL_SWAPS):
        order = list(range(6))
        order[k], order[k + 1] = order[k + 1], order[k]
        gains[swap] = (base - _shape_path(median, order, on, off)) / base
    return gains


def detect_reversal(m, params: ReversalParams = DEFAULT_REVERSAL_PARAMS) -> ReversalFinding:
    """The electrode reversal the median beats of ``m`` (``ecgcore.measure``) point to, or None.

    Hard calls (``reversal``/``criteria``): RA/RL and LA/RL (flat lead), RA/LL (II and aVF
    anti-correlated with V6), LA/RA (logistic model). Possible (``possible``, warnings only): LA/LL and adjacent precordial swaps, whose
    criteria do not reach 99% specificity on clean dev records."""
    f = _features(m)
    met: dict[str, str] = {}
    possible: dict[str, str] = {}
    if not f:
        return ReversalFinding(None, met, f, possible)

    def get(name: str) -> float | None:
        return f.get(name)

    def neg(v: float | None, limit: float) -> bool:
        return v is not None and v < -limit

    qn, pm = params.qrs_net_min, params.p_min_mv
    limb_rms = [get(f"rms_{lead}") for lead in ("I", "II", "III") if get(f"rms_{lead}") is not None]
    big = max(limb_rms) if limb_rms else 0.0
    for lead, kind in (("II", "RA/RL"), ("III", "LA/RL")):
        rms = get(f"rms_{lead}")
        if rms is not None and big > 0.03 and rms / big < params.neutral_flat_ratio:
            met[kind] = f"lead {lead} flat ({rms / big:.2f} of the largest limb lead's QRS RMS < {params.neutral_flat_ratio:g})"
    c_ii, c_avf = get("corr_II_V6"), get("corr_aVF_V6")
    if (not met and c_ii is not None and c_avf is not None and c_ii < params.ra_ll_corr_ii_v6
            and c_avf < params.ra_ll_corr_avf_v6):
        met["RA/LL"] = (f"II and aVF anti-correlated with V6 over the beat ({c_ii:+.2f} < {params.ra_ll_corr_ii_v6:g}, "
                        f"{c_avf:+.2f} < {params.ra_ll_corr_avf_v6:g})")
    prob = la_ra_probability(f)
    f["la_ra_probability"] = prob
    if prob is not None and prob > params.la_ra_min_probability and not met:
        met["LA/RA"] = (f"LA/RA model {prob:.2f} > {params.la_ra_min_probability:g} (QRS axis {get('qrs_axis'):+.0f}°, "
                        f"P axis {'none' if get('p_axis') is None else format(get('p_axis'), '+.0f') + '°'}, "
                        f"T axis {get('t_axis'):+.0f}°, I vs V6 correlation {get('corr_I_V6'):+.2f})")
    p_i, has_p = get("p_I"), m.fiducials is not None and m.fiducials.p is not None
    if not met:
        if (has_p and p_i is not None and get("p_II") is not None and p_i > pm and p_i > get("p_II")
                and neg(get("p_III"), 0.0)):
            possible["LA/LL"] = "P wave larger in I than in II and negative in III"
    gains = precordial_path_gains(m)
    for swap, gain in gains.items():
        f[f"precordial_gain_{swap}"] = gain
    if gains and not met:
        swap, gain = max(gains.items(), key=lambda kv: kv[1])
        if gain > params.precordial_gain:
            possible[swap] = f"V1->V6 QRS shape path {gain:.0%} shorter with {swap} back in order (> {params.precordial_gain:.0%})"
    order = [k for k in REVERSALS if k in met]
    return ReversalFinding(order[0] if order else None, met, f, possible)


__all__ = [
    "CORRECTABLE_REVERSALS",
    "DEFAULT_REVERSAL_PARAMS",
    "LIMB_REVERSALS",
    "PRECORDIAL_SWAPS",
    "REVERSALS",
    "ReversalFinding",
    "ReversalParams",
    "correct_reversal",
    "detect_reversal",
    "la_ra_probability",
    "electrode_potentials",
    "precordial_path_gains",
    "simulate_reversal",
]
