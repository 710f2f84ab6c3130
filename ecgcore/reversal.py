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
- LA/RA (hard), RA/LL (hard), LA/LL (possible): one multinomial logistic model (``LIMB_MODEL``) over
  {none, LA/RA, LA/LL, RA/LL}, so the three compete for a record (checked one after the other, RA/LL
  used to take LA/RA records). Features: cos and sin of the frontal QRS, P and T axes (a limb reversal
  mirrors or rotates them) and the correlation of each limb lead's median beat with V1, V5 and V6
  (the V leads do not move with the limb cables; dextrocardia would turn V5, V6 too). Fitted on
  records 1-200 with simulated reversals (scripts/fit_reversal_model.py); a reversal is called when it
  is the most probable class and above its threshold (``la_ra_min_probability`` ...).
- possible, precordial swaps: the six V leads' QRS shapes should change smoothly V1 -> V6 (R-wave
  progression). A swap of Vk and Vk+1 is possible when putting them back in order shortens the
  path V1 -> V6 between the shapes by more than ``precordial_gain`` of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ecgcore.errors import LeadError
from ecgcore.leads import LIMB_LEADS, PRECORDIAL_LEADS, derive_limb_leads
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


@dataclass(frozen=True)
class ReversalParams:
    """Limits of the reversal criteria."""

    neutral_flat_ratio: float = 0.08  # lead RMS / largest limb lead RMS below this: flat
    precordial_gain: float = 0.12  # relative shortening of the V1->V6 shape path (possible swap only)
    # Limb-lead model (LIMB_MODEL): a reversal is called when it is the most probable class and above its
    # threshold, read off the dev records' out-of-fold table (bench/results/reversal_model_fit.json):
    la_ra_min_probability: float = 0.7  # hard call; dev out of fold: sensitivity 97.5%, 0 of 200 clean called
    ra_ll_min_probability: float = 0.6  # hard call; dev out of fold: sensitivity 99.0%, 1 of 200 clean called
    la_ll_min_probability: float = 0.7  # possible only; dev out of fold: sensitivity 64.5%, 16 of 200 clean


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


# Limb-lead reversal model: one multinomial logistic regression over {none, LA/RA, LA/LL, RA/LL}, so the
# three reversals compete for a record instead of being checked one after the other (the RA/LL check,
# run first, used to take LA/RA records). Features (LIMB_MODEL_FEATURES): cos and sin of the frontal
# QRS, P (0, 0 without a P wave) and T axes, and the whole-beat correlation of each limb lead's median
# beat with V1, V5 and V6: the precordial leads do not move with the limb cables, so a swapped limb lead
# stops resembling (or starts anti-resembling) them. Fitted by scripts/fit_reversal_model.py
# (scikit-learn StandardScaler + LogisticRegression, C=1) on PTB-XL subset records 1-200 (dev, by file
# order): each clean record and its simulate_reversal LA/RA, LA/LL, RA/LL; the thresholds below were
# read off 5-fold out-of-fold probabilities on the same records. Records 201-434 were not used.
LIMB_MODEL_CLASSES: tuple[str, ...] = ("none", "LA/RA", "LA/LL", "RA/LL")
LIMB_MODEL_REFERENCE_LEADS: tuple[str, ...] = ("V1", "V5", "V6")
LIMB_MODEL_FEATURES: tuple[str, ...] = (
    *(f"{trig}_{wave}_axis" for wave in ("qrs", "p", "t") for trig in ("cos", "sin")),
    *(f"corr_{lead}_{ref}" for ref in LIMB_MODEL_REFERENCE_LEADS for lead in LIMB_LEADS),
)
LIMB_MODEL: dict[str, list] = {  # scripts/fit_reversal_model.py (bench/results/reversal_model_fit.json)
    "mean": [
        0.153743, 0.101639, 0.150282, 0.145236, 0.157108, 0.14169, -0.10062, -0.153683, 0.02209, 0.126215,
        -0.079918, -0.085863, 0.142676, 0.287498, 0.024156, -0.189961, 0.122211, 0.226182, 0.146057, 0.282954,
        0.02007, -0.199581, 0.116399, 0.211233
    ],
    "scale": [
        0.687088, 0.70281, 0.678885, 0.680394, 0.693971, 0.688219, 0.651234, 0.639232, 0.668443, 0.643704, 0.654089,
        0.647967, 0.816124, 0.794597, 0.776137, 0.814912, 0.750978, 0.768936, 0.821318, 0.79997, 0.78759, 0.819893,
        0.763685, 0.776893
    ],
    "coef": [
        # none
        [
            0.18174, -0.000209, 0.30057, 0.799461, 0.679216, 0.234452, -0.98564, 0.084075, -0.035297, -0.416457,
            -0.103007, 0.403018, 0.51044, 0.215671, 0.240445, -0.182848, -0.065836, 0.46479, 0.150751, 0.502019,
            0.403661, -0.265043, 0.057851, 0.420199
        ],
        # LA/RA
        [
            -0.268794, 0.008713, -0.942105, 0.90174, -0.984295, 0.578668, 1.345503, 0.359062, 0.208513, 0.174549,
            -0.451044, 0.212135, -0.411321, -0.252314, 0.535927, -0.005996, -0.506569, 0.286818, -0.489093,
            -0.184284, 0.622684, 0.112514, -0.699866, 0.401438
        ],
        # LA/LL
        [
            0.054892, 0.051553, 1.017951, -0.348847, 0.701615, 0.086938, -0.172408, -0.327196, -0.65911, -0.17988,
            0.549017, -0.42694, 0.241608, 0.700351, -0.169674, -0.13122, 0.743472, -0.342844, 0.585299, 0.290666,
            -0.400406, -0.112123, 0.745125, -0.412668
        ],
        # RA/LL
        [
            0.032162, -0.060058, -0.376416, -1.352354, -0.396535, -0.900058, -0.187456, -0.115941, 0.485894,
            0.421788, 0.005034, -0.188213, -0.340726, -0.663708, -0.606698, 0.320063, -0.171067, -0.408763,
            -0.246957, -0.608401, -0.625939, 0.264652, -0.10311, -0.408969
        ],
    ],
    "intercept": [
        1.161411, -1.061302, 0.835363, -0.935472
    ],
}
LIMB_MODEL_NOTE = ("multinomial logistic model over none / LA/RA / LA/LL / RA/LL on the frontal P/QRS/T axes and "
                   "the limb leads' correlation with V1, V5, V6; fitted on PTB-XL subset records 1-200 with "
                   "simulated reversals")


def limb_model_features(m) -> dict[str, float] | None:
    """The features of the limb-lead reversal model from ``m``'s median beats and axes, or None when
    the QRS or T axis, a limb lead or a reference V lead is missing."""
    if m.median_beats is None or m.fiducials is None:
        return None
    leads = list(m.leads)
    if not all(lead in leads for lead in (*LIMB_LEADS, *LIMB_MODEL_REFERENCE_LEADS)):
        return None
    out: dict[str, float] = {}
    for wave in ("qrs", "p", "t"):
        axis = getattr(m, f"{wave}_axis_deg", None)
        missing = axis is None or not np.isfinite(axis)
        if missing and wave != "p":
            return None
        out[f"cos_{wave}_axis"] = 0.0 if missing else float(np.cos(np.radians(axis)))
        out[f"sin_{wave}_axis"] = 0.0 if missing else float(np.sin(np.radians(axis)))
    median = np.asarray(m.median_beats, dtype=np.float64)
    for ref in LIMB_MODEL_REFERENCE_LEADS:
        for lead in LIMB_LEADS:
            out[f"corr_{lead}_{ref}"] = _corr(median[leads.index(lead)], median[leads.index(ref)])
    return out


def limb_reversal_probabilities(features: dict[str, float] | None) -> dict[str, float] | None:
    """P(none), P(LA/RA), P(LA/LL), P(RA/LL) from the fixed model, or None without features."""
    if features is None:
        return None
    x = (np.array([features[name] for name in LIMB_MODEL_FEATURES]) - np.asarray(LIMB_MODEL["mean"])) \
        / np.asarray(LIMB_MODEL["scale"])
    z = np.asarray(LIMB_MODEL["coef"]) @ x + np.asarray(LIMB_MODEL["intercept"])
    p = np.exp(z - z.max())
    p /= p.sum()
    return {kind: float(v) for kind, v in zip(LIMB_MODEL_CLASSES, p)}


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

    Hard calls (``reversal``/``criteria``): RA/RL and LA/RL (a flat lead), else LA/RA or RA/LL from the
    limb-lead model. Possible (``possible``, warnings only): LA/LL from the same model, and adjacent
    precordial swaps; their criteria do not reach 99% specificity on clean dev records. ``features``
    holds the model's probabilities (``limb_model_<kind>``)."""
    f = _features(m)
    met: dict[str, str] = {}
    possible: dict[str, str] = {}
    if not f:
        return ReversalFinding(None, met, f, possible)

    def get(name: str) -> float | None:
        return f.get(name)

    limb_rms = [get(f"rms_{lead}") for lead in ("I", "II", "III") if get(f"rms_{lead}") is not None]
    big = max(limb_rms) if limb_rms else 0.0
    for lead, kind in (("II", "RA/RL"), ("III", "LA/RL")):
        rms = get(f"rms_{lead}")
        if rms is not None and big > 0.03 and rms / big < params.neutral_flat_ratio:
            met[kind] = f"lead {lead} flat ({rms / big:.2f} of the largest limb lead's QRS RMS < {params.neutral_flat_ratio:g})"
    limb = limb_model_features(m)
    probabilities = limb_reversal_probabilities(limb) if not met else None
    for kind, value in (probabilities or {}).items():
        f[f"limb_model_{kind}"] = value
    if probabilities:
        likeliest = max(probabilities, key=probabilities.get)
        minimum = {"LA/RA": params.la_ra_min_probability, "RA/LL": params.ra_ll_min_probability,
                   "LA/LL": params.la_ll_min_probability}.get(likeliest)
        if minimum is not None and probabilities[likeliest] > minimum:
            text = (f"limb-lead model P({likeliest}) {probabilities[likeliest]:.2f} > {minimum:g} (QRS axis "
                    f"{get('qrs_axis'):+.0f}°, P axis "
                    f"{'none' if get('p_axis') is None else format(get('p_axis'), '+.0f') + '°'}, T axis "
                    f"{get('t_axis'):+.0f}°; I, II vs V6 correlation {limb['corr_I_V6']:+.2f}, {limb['corr_II_V6']:+.2f})")
            (possible if likeliest == "LA/LL" else met)[likeliest] = text
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
    "limb_model_features",
    "limb_reversal_probabilities",
    "electrode_potentials",
    "precordial_path_gains",
    "simulate_reversal",
]
