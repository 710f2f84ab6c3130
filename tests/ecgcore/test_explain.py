"""ecgcore.explain: shapes and plumbing on a tiny model, Captum equivalence of the shared-work paths,
errors, display helpers, and faithfulness (deletion, weight randomisation) on a model trained here
on real PTB-XL records."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import ecgcore
from ecgcore.bundle import make_card, save_bundle
from ecgcore.errors import ECGValidationError, LabelError
from ecgcore.explain import (
    DEFAULT_CONFIG,
    METHODS,
    ExplainConfig,
    _Tail,
    attribute,
    deletion_drop,
    explain,
    explain_many,
    make_baseline,
    stage_activation,
)
from ecgcore.explain_display import (
    ALL_LEADS,
    Segment,
    describe_segments,
    display_scale,
    per_lead_importance,
    plot_explanation,
    top_segments,
)
from ecgcore.labels import encode_ptbxl, label_index
from ecgcore.leads import LEADS_12
from ecgcore.model import create_model
from ecgcore.predict import Predictor
from ecgcore.record import Record
from tests.conftest import SAMPLES_DIR, SHARED_DATA_DIR
from tests.ecgcore.helpers import TINY_LABELS, tiny_bundle

PTBXL = SHARED_DATA_DIR / "ptbxl_subset"
FAST = ExplainConfig(ig_steps=8, ig_batch=8)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    return Predictor(tiny_bundle(tmp_path_factory.mktemp("tiny") / "bundle"))


@pytest.fixture(scope="module")
def record() -> Record:
    return ecgcore.read(SAMPLES_DIR / "ptbxl" / "00001_hr.hea")


# -- plumbing on a tiny random model ------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_every_method_returns_an_aligned_explanation(predictor: Predictor, record: Record, method: str) -> None:
    exp = explain(predictor, record, "ATRIAL FIBRILLATION", method, config=FAST)
    assert exp.attribution.shape == exp.signal.shape == (12, 5000)
    assert exp.attribution.dtype == np.float32 and np.isfinite(exp.attribution).all()
    assert np.array_equal(exp.signal, predictor.prepare(record))
    assert exp.method == method and exp.label == "ATRIAL FIBRILLATION" and exp.leads == LEADS_12
    expected_p = predictor.probabilities(exp.signal[np.newaxis])[0, predictor.label_index("ATRIAL FIBRILLATION")]
    assert exp.probability == pytest.approx(expected_p, abs=1e-6)
    assert list(exp.per_lead) == list(LEADS_12)
    assert sum(exp.per_lead.values()) == pytest.approx(1.0, abs=1e-6)
    assert exp.segments and all(0 <= s.start_s < s.end_s <= 10.0 for s in exp.segments)
    assert [s.weight for s in exp.segments] == sorted((s.weight for s in exp.segments), reverse=True)
    assert exp.describe() and all(" s" in words for words in exp.describe())
    assert exp.seconds > 0 and exp.valid_samples == 5000 and exp.record_name == record.record_name
    if method == "gradcam":
        assert {s.lead for s in exp.segments} == {ALL_LEADS} and exp.top_leads() == []
        assert np.array_equal(exp.attribution[0], exp.attribution[5])  # one map for all leads
    else:
        assert {s.lead for s in exp.segments} <= set(LEADS_12) and len(exp.top_leads(3)) == 3


@pytest.mark.parametrize("method", METHODS)
def test_batched_labels_equal_one_label_at_a_time(predictor: Predictor, record: Record, method: str) -> None:
    batched = explain_many(predictor, record, TINY_LABELS, method, config=FAST)
    assert [e.label for e in batched] == TINY_LABELS
    for exp in batched:
        single = explain(predictor, record, exp.label, method, config=FAST)
        np.testing.assert_allclose(exp.attribution, single.attribution, rtol=1e-4, atol=1e-7)
        assert exp.probability == pytest.approx(single.probability)
    assert batched[3].trained is False  # the tiny bundle was not trained on its last label


def test_shared_forward_ig_equals_captum_integrated_gradients(predictor: Predictor, record: Record) -> None:
    from captum.attr import IntegratedGradients

    x = predictor.prepare(record)
    targets = [0, 1, 3]
    ours, deltas = attribute(predictor.model, x, targets, "ig", FAST)
    inputs = torch.from_numpy(x)[None]
    for j, target in enumerate(targets):
        ref, delta = IntegratedGradients(predictor.model).attribute(
            inputs, baselines=torch.zeros_like(inputs), target=target, n_steps=FAST.ig_steps,
            method=FAST.ig_rule, return_convergence_delta=True,
        )
        np.testing.assert_allclose(ours[j], ref[0].detach().numpy(), rtol=1e-4, atol=1e-8)
        assert deltas[j] == pytest.approx(float(delta), abs=1e-5)


def test_gradcam_from_one_forward_equals_captum_on_the_full_model(predictor: Predictor, record: Record) -> None:
    from captum.attr import LayerAttribution, LayerGradCam

    model = predictor.model
    inputs = torch.from_numpy(predictor.prepare(record))[None]
    activation = stage_activation(model, inputs, len(model.stage_list) - 1)
    with torch.no_grad():  # activation up to a stage + the tail (the rest of Net1D's forward) = the full forward
        torch.testing.assert_close(_Tail(model, len(model.stage_list) - 1)(activation), model(inputs))
        torch.testing.assert_close(_Tail(model, 0)(stage_activation(model, inputs, 0)), model(inputs))
    ours, _ = attribute(model, inputs[0].numpy(), [1, 2], "gradcam")
    for j, target in enumerate([1, 2]):
        cam = LayerGradCam(model, model.stage_list[-1]).attribute(inputs, target=target, relu_attributions=True)
        ref = LayerAttribution.interpolate(cam.detach(), (5000,), interpolate_mode="linear")[0, 0]
        np.testing.assert_allclose(ours[j, 0], ref.numpy(), rtol=1e-4, atol=1e-8)


def test_ig_is_complete_and_blur_baseline_is_an_alternative(predictor: Predictor, record: Record) -> None:
    zero = explain(predictor, record, "NORMAL ECG", "ig")
    assert abs(zero.convergence_delta) < 0.05 * max(abs(zero.attribution.sum()), 1e-6) + 1e-5
    blur = explain(predictor, record, "NORMAL ECG", "ig", baseline="blur")
    assert blur.baseline == "blur" and not np.allclose(blur.attribution, zero.attribution)
    x = torch.from_numpy(zero.signal)[None]
    smooth = make_baseline(x, ExplainConfig(baseline="blur"))
    assert smooth.shape == x.shape and float(smooth.std()) < float(x.std())


def test_single_lead_model(tmp_path: Path, record: Record) -> None:
    single = Predictor(tiny_bundle(tmp_path / "one", in_leads=("I",)))
    for method in METHODS:
        exp = explain(single, record, "NORMAL ECG", method, config=FAST)
        assert exp.attribution.shape == (1, 5000) and exp.leads == ("I",)
        assert exp.per_lead == {"I": pytest.approx(1.0)}


def test_short_record_padding_gets_no_attribution(predictor: Predictor, record: Record) -> None:
    cut = Record(record.signal[:, :3000], record.fs, record.leads, "short-6s")
    exp = explain(predictor, cut, "NORMAL ECG", "saliency")
    assert exp.valid_samples == 3000
    assert not exp.attribution[:, 3000:].any() and exp.attribution[:, :3000].any()
    assert all(s.end_s <= 6.0 for s in exp.segments)


# -- errors -------------------------------------------------------------------------------------


def test_unknown_label_names_the_model(predictor: Predictor, record: Record) -> None:
    with pytest.raises(LabelError, match="has no label 'ATRIAL FLUTTER'"):
        explain(predictor, record, "ATRIAL FLUTTER")
    with pytest.raises(LabelError):
        explain_many(predictor, record, ["NORMAL ECG", "NOT A LABEL"])


def test_record_too_short_is_refused_clearly(predictor: Predictor, record: Record) -> None:
    short = Record(record.signal[:, :1500], record.fs, record.leads, "three-seconds")
    with pytest.raises(ECGValidationError, match=r"has 3\.0 s of signal; explanations need at least 4 s"):
        explain(predictor, short, "NORMAL ECG")


def test_bad_method_and_options(predictor: Predictor, record: Record) -> None:
    with pytest.raises(ValueError, match="Unknown explanation method 'lime'.*ig, gradcam"):
        explain(predictor, record, "NORMAL ECG", "lime")
    with pytest.raises(ValueError, match="baseline"):
        explain(predictor, record, "NORMAL ECG", baseline="noise")
    with pytest.raises(ValueError, match="non-empty sequence"):
        explain_many(predictor, record, "NORMAL ECG")


# -- display helpers ----------------------------------------------------------------------------


def _planted(lead: int = 7, start: int = 1050, stop: int = 1300) -> np.ndarray:
    rng = np.random.default_rng(0)
    attr = rng.normal(0, 0.01, (12, 5000)).astype(np.float32)
    attr[lead, start:stop] += 1.0
    return attr


def test_top_segment_finds_a_planted_bump() -> None:
    segments = top_segments(_planted(), LEADS_12, 500.0)
    best = segments[0]
    assert best.lead == "V2" and best.start_s == pytest.approx(2.1, abs=0.05) and best.end_s == pytest.approx(2.6, abs=0.05)
    assert best.weight > 0.5
    assert per_lead_importance(_planted(), LEADS_12)["V2"] > 0.5
    assert top_segments(np.zeros((12, 5000)), LEADS_12, 500.0) == ()


def test_segments_in_words_group_neighbouring_leads() -> None:
    segments = [
        Segment(2.1, 2.6, "V2", 0.3), Segment(2.15, 2.5, "V1", 0.2), Segment(2.2, 2.6, "V3", 0.1),
        Segment(4.0, 4.3, "II", 0.05), Segment(4.1, 4.2, "aVF", 0.04), Segment(7.0, 7.05, "I", 0.01),
    ]
    assert describe_segments(segments, LEADS_12) == ["V1–V3, 2.1–2.6 s", "II, aVF, 4.0–4.3 s", "I, 7.00–7.05 s"]


def test_display_scaling_is_clipped_per_record() -> None:
    attr = _planted()
    attr[0, 10] = 1e3  # one wild sample must not wash out the rest
    scaled = display_scale(attr, 500.0)
    assert scaled.dtype == np.float32 and scaled.min() >= 0 and scaled.max() == pytest.approx(1.0)
    assert scaled[7, 1100:1250].mean() > 0.9
    signed = display_scale(-attr, 500.0, mode="signed", valid_samples=4000)
    assert signed.min() == pytest.approx(-1.0) and not signed[:, 4000:].any()
    with pytest.raises(ValueError, match="display mode"):
        display_scale(attr, 500.0, mode="log")


def test_plot_writes_a_figure(predictor: Predictor, record: Record, tmp_path: Path) -> None:
    exp = explain(predictor, record, "NORMAL ECG", "gradcam")
    fig = plot_explanation(exp, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 12


# -- faithfulness on a model trained here on real records ----------------------------------------

TRAIN_EPOCHS = 3
N_FAITHFUL_RECORDS = 8
# Occlusion with 1-s windows here (120 forwards per record, not 240): same method, half the test time.
FAITHFUL_CONFIG = {method: ExplainConfig(occlusion_window_s=1.0) for method in METHODS}


def _load_ptbxl() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    if not (PTBXL / "ptbxl_database.csv").is_file():
        pytest.skip("../shared/data/ptbxl_subset is not beside the repo")
    table = pd.read_csv(PTBXL / "ptbxl_database.csv")
    normal = label_index("NORMAL ECG")
    x, y = [], []
    for row in table.itertuples():
        x.append(ecgcore.preprocess(ecgcore.read(PTBXL / f"{row.filename_hr}.hea"), n_threads=1))
        y.append(encode_ptbxl(ast.literal_eval(row.scp_codes))[0][normal])
    return np.stack(x), np.asarray(y, dtype=np.float32), table["strat_fold"].to_numpy()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """net1d-small-12lead trained on folds 1-8 (353 records) for NORMAL ECG vs abnormal, ~40 s on 2 idle cores.

    Keeps fold-9 records the model calls normal with p > 0.6 for the faithfulness checks, and a
    re-initialised copy of the architecture (another seed) for the randomisation check.
    """
    from sklearn.metrics import roc_auc_score

    x, y, fold = _load_ptbxl()
    train, held_out = fold <= 8, fold == 9
    torch.manual_seed(0)
    model = create_model("net1d-small-12lead", n_classes=1)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    xt, yt = torch.from_numpy(x[train]), torch.from_numpy(y[train])[:, None]
    for _ in range(TRAIN_EPOCHS):
        model.train()
        for batch in torch.randperm(len(xt)).split(32):
            if len(batch) < 2:
                continue
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xt[batch]), yt[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    with torch.no_grad():
        p = torch.sigmoid(model(torch.from_numpy(x[held_out])))[:, 0].numpy()
    card = make_card("test-normal-vs-abnormal", model, ["NORMAL ECG"])
    predictor = Predictor(save_bundle(model, card, tmp_path_factory.mktemp("trained") / "bundle"))
    torch.manual_seed(1)
    confident = np.flatnonzero(p > 0.6)[:N_FAITHFUL_RECORDS]
    return {
        "predictor": predictor,
        "auroc": roc_auc_score(y[held_out], p),
        "x": x[held_out][confident],
        "random_model": create_model("net1d-small-12lead", n_classes=1).eval(),
        "cache": {},
    }


def _attributions(trained: dict, method: str, which: str = "trained") -> list[np.ndarray]:
    """Attributions of NORMAL ECG for the held-out records, computed once per (method, model) per session."""
    key = (method, which)
    if key not in trained["cache"]:
        model = trained["predictor"].model if which == "trained" else trained["random_model"]
        trained["cache"][key] = [attribute(model, x, [0], method, FAITHFUL_CONFIG[method])[0][0] for x in trained["x"]]
    return trained["cache"][key]


@pytest.mark.slow
def test_trained_fixture_is_better_than_chance(trained: dict) -> None:
    print(f"\nheld-out fold-9 AUROC NORMAL ECG vs abnormal: {trained['auroc']:.3f}")
    assert trained["auroc"] > 0.75
    assert len(trained["x"]) >= 6


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_deletion_of_top_attributed_samples_hurts_more_than_random(trained: dict, method: str) -> None:
    model = trained["predictor"].model
    drops = np.array([deletion_drop(model, x, a, 0) for x, a in zip(trained["x"], _attributions(trained, method))])
    top, random = drops.mean(axis=0)
    print(f"\ndeletion {method}: probability drop top-10% {top:.3f} vs random-10% {random:.3f} "
          f"(top larger in {np.mean(drops[:, 0] > drops[:, 1]):.0%} of {len(drops)} records)")
    assert top > random


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_randomised_weights_change_the_attribution(trained: dict, method: str) -> None:
    """Adebayo et al.: an explanation that survives re-initialising the model explains the input, not the model.

    Reported: Spearman rank correlation of |attribution| (Adebayo's measure) and of the signed
    attribution. Gradient-times-input methods keep some of the input's own structure (QRS energy)
    under any weights, so |IG| correlates moderately; the bound is "clearly not the same map".
    """
    rho_abs, rho_signed = [], []
    for a, b in zip(_attributions(trained, method), _attributions(trained, method, "random")):
        if method == "gradcam":  # one map repeated over leads
            a, b = a[:1], b[:1]
        rho_abs.append(spearmanr(np.abs(a).ravel(), np.abs(b).ravel()).statistic)
        rho_signed.append(spearmanr(a.ravel(), b.ravel()).statistic)
    abs_mean, signed_mean = float(np.nanmean(rho_abs)), float(np.nanmean(rho_signed))
    print(f"\nrandomisation {method}: Spearman trained vs re-initialised |attr| {abs_mean:.3f}, signed {signed_mean:.3f}")
    assert abs_mean < 0.6


@pytest.mark.slow
def test_ig_convergence_on_the_trained_model(trained: dict) -> None:
    relative = []
    model = trained["predictor"].model
    for x in trained["x"][:3]:
        attr, (delta,) = attribute(model, x, [0], "ig")
        relative.append(abs(delta) / abs(attr.sum() - delta))
    print(f"\nIG ({DEFAULT_CONFIG.ig_steps} Gauss-Legendre steps) completeness error: median {np.median(relative):.2%} of the logit difference")
    assert np.median(relative) < 0.05
