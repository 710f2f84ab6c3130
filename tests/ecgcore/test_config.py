"""Configuration in one place: every ECG_ variable is read in a config module and listed in the README."""

from __future__ import annotations

import re

import pytest

from ecgcore import config
from tests.conftest import REPO_ROOT

CONFIG_MODULES = {"ecgcore/config.py", "db/config.py"}
PACKAGES = ("ecgcore", "db", "app", "train")
_VARIABLE = re.compile(r"\bECG_[A-Z][A-Z0-9_]*\b")


def _sources() -> dict[str, str]:
    return {str(p.relative_to(REPO_ROOT)): p.read_text() for package in PACKAGES
            for p in (REPO_ROOT / package).rglob("*.py")}


def _variables_read_in(text: str) -> set[str]:
    # lead-name constants such as ECG_LEAD_I are identifiers, not environment variables
    return {v for v in _VARIABLE.findall(text) if not v.startswith("ECG_LEAD")}


def test_environment_is_read_only_in_the_config_modules() -> None:
    readers = {path for path, text in _sources().items()
               if re.search(r"os\.environ(\.get)?\s*[\[(]\s*[\"']ECG_|getenv\(\s*[\"']ECG_", text)}
    assert readers <= CONFIG_MODULES, f"ECG_ variables read outside the config modules: {sorted(readers - CONFIG_MODULES)}"


def test_every_variable_is_in_the_readme_table() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    table = {m for line in readme.splitlines() if line.startswith("| `ECG_") for m in _VARIABLE.findall(line)}
    read = set().union(*(_variables_read_in((REPO_ROOT / m).read_text()) for m in CONFIG_MODULES))
    assert read - table == set(), f"read but not documented: {sorted(read - table)}"
    assert table - read == set(), f"documented but never read: {sorted(table - read)}"


def test_locations_follow_the_environment_at_call_time(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECG_MODEL_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("ECG_SAMPLES_DIR", str(tmp_path / "s"))
    monkeypatch.setenv("ECG_CACHE_DIR", str(tmp_path / "c"))
    assert (config.models_dir(), config.samples_dir(), config.cache_dir()) == (tmp_path / "m", tmp_path / "s",
                                                                               tmp_path / "c")
    monkeypatch.delenv("ECG_MODEL_DIR")
    assert config.models_dir() == REPO_ROOT / "models"


def test_a_bad_thread_count_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECG_PREPROCESS_THREADS", "two")
    with pytest.raises(ValueError, match="ECG_PREPROCESS_THREADS='two'"):
        config.preprocess_threads()
    monkeypatch.setenv("ECG_PREPROCESS_THREADS", "3")
    assert config.preprocess_threads() == 3
