"""The layout-plan cache: measured once per machine, architecture and batch size; never fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecgcore import plan_cache
from ecgcore.model import create_model
from ecgcore.plan_cache import CACHE_FILE_NAME, plan_key, plan_measurement_for


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ECG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / CACHE_FILE_NAME


@pytest.fixture
def count_measurements(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = plan_cache.measure_layouts

    def counting(model, batch_size, **kwargs):
        calls.append(batch_size)
        return real(model, batch_size, repeats=1)

    monkeypatch.setattr(plan_cache, "measure_layouts", counting)
    return calls


def test_second_lookup_comes_from_the_cache(cache: Path, count_measurements: list[int]) -> None:
    model = create_model("net1d-tiny").eval()
    first, cached = plan_measurement_for(model, 2)
    assert not cached and cache.is_file()
    again, cached = plan_measurement_for(model, 2)
    assert cached and again == first
    other_batch, cached = plan_measurement_for(model, 3)
    assert not cached
    assert count_measurements == [2, 3]
    assert len(json.loads(cache.read_text())) == 2


def test_key_tracks_architecture_not_head(cache: Path) -> None:
    small = create_model("net1d-tiny").eval()
    assert plan_key(small, 2) == plan_key(create_model("net1d-tiny", n_classes=5), 2)
    assert plan_key(small, 2) != plan_key(create_model("net1d-tiny", in_channels=1), 2)
    assert plan_key(small, 2)["threads"] >= 1


def test_corrupt_cache_is_measured_again_and_repaired(cache: Path, count_measurements: list[int]) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    model = create_model("net1d-tiny").eval()
    _, cached = plan_measurement_for(model, 2)
    assert not cached
    entries = json.loads(cache.read_text())
    (entry,) = entries.values()
    entry["measurement"]["plan"]["stem"] = "sideways"   # a well-formed file with a bad plan
    cache.write_text(json.dumps(entries))
    _, cached = plan_measurement_for(model, 2)
    assert not cached and count_measurements == [2, 2]


def test_unwritable_cache_still_gives_a_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            count_measurements: list[int]) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")  # fails even for root
    monkeypatch.setenv("ECG_CACHE_DIR", str(blocker / "cache"))
    measurement, cached = plan_measurement_for(create_model("net1d-tiny").eval(), 2)
    assert not cached and len(measurement.plan.stages) == 3 and count_measurements == [2]


def test_cache_can_be_bypassed(cache: Path, count_measurements: list[int]) -> None:
    model = create_model("net1d-tiny").eval()
    plan_measurement_for(model, 2, use_cache=False)
    assert not cache.exists() and count_measurements == [2]
