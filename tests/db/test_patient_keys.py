"""The installation key and patient keys (db.patient_keys): hashing, normalising, creating the key once."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import stat
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from db import patient_keys
from db.errors import InvalidInputError, StorageError
from db.patient_keys import installation_secret, key_file, normalise_patient_id, patient_key


@pytest.fixture(autouse=True)
def _no_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECG_PATIENT_KEY", raising=False)


def test_identifiers_are_normalised_and_placeholders_get_no_key(tmp_path: Path) -> None:
    assert normalise_patient_id("  jax01234\t") == "JAX01234"
    assert patient_key(" jax01234 ", data_dir=tmp_path) == patient_key("JAX01234", data_dir=tmp_path)
    assert patient_key("01234", data_dir=tmp_path) != patient_key("1234", data_dir=tmp_path)
    for placeholder in (None, "", "   ", "0000", "9999", "xxxxxx", "---", "unknown", "Anonymous", "N/A"):
        assert patient_key(placeholder, data_dir=tmp_path) is None, placeholder
    key = patient_key("SBJ-123", data_dir=tmp_path)
    assert len(key) == patient_keys.PATIENT_KEY_CHARS == 32 and int(key, 16) >= 0


def test_the_key_is_an_hmac_under_the_installation_key(tmp_path: Path) -> None:
    secret = installation_secret(tmp_path)
    expected = hmac.new(secret, b"SBJ-123", hashlib.sha256).hexdigest()[:32]
    assert patient_key("sbj-123", data_dir=tmp_path) == expected
    assert patient_key("SBJ-123", secret=b"another installation's key, 32+ chars") != expected


def test_the_key_file_is_created_once_private_and_reused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    first = installation_secret(data)
    path = key_file(data)
    assert path.read_text().strip() == first.decode() and len(first) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert installation_secret(data) == first  # read, not re-created
    assert sorted(p.name for p in data.iterdir()) == ["patient_key"]  # no temporary file left behind
    assert str(path) in caplog.text and first.decode() not in caplog.text  # where, never what
    other = installation_secret(tmp_path / "elsewhere")
    assert other != first and patient_key("X123", data_dir=data) != patient_key("X123", data_dir=tmp_path / "elsewhere")


def test_a_creator_that_loses_the_race_uses_the_winners_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = key_file(tmp_path)
    real_link = os.link

    def link_after_another_process(src: str, dst: str) -> None:
        Path(dst).write_text("ab" * 32 + "\n")  # the other process's key lands first
        real_link(src, dst)

    monkeypatch.setattr(patient_keys.os, "link", link_after_another_process)
    assert installation_secret(tmp_path) == b"ab" * 32
    assert path.read_text().strip() == "ab" * 32 and [p.name for p in tmp_path.iterdir()] == ["patient_key"]


def test_without_hard_links_the_file_is_created_exclusively(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: str, dst: str) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(patient_keys.os, "link", no_links)
    secret = installation_secret(tmp_path)
    assert key_file(tmp_path).read_text().strip() == secret.decode()
    assert stat.S_IMODE(key_file(tmp_path).stat().st_mode) == 0o600


def _secret_in(folder: str) -> bytes:
    return installation_secret(folder)


def test_processes_starting_together_end_with_one_key(tmp_path: Path) -> None:
    folder = str(tmp_path / "shared-data")
    with ProcessPoolExecutor(6, mp_context=get_context("fork")) as pool:
        secrets_seen = set(pool.map(_secret_in, [folder] * 24))
    assert len(secrets_seen) == 1
    assert key_file(folder).read_text().strip().encode() in secrets_seen
    assert [p.name for p in Path(folder).iterdir()] == ["patient_key"]


def test_a_damaged_key_file_is_an_error_not_a_new_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patient_keys, "_READ_ATTEMPTS", 2)
    key_file(tmp_path).write_text("not a key")
    with pytest.raises(StorageError, match="does not hold a key.*Restore it from the backup"):
        patient_key("SBJ-123", data_dir=tmp_path)
    assert key_file(tmp_path).read_text() == "not a key"


def test_the_environment_variable_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECG_PATIENT_KEY", "too short")
    with pytest.raises(InvalidInputError, match="ECG_PATIENT_KEY is 9 characters long; it must have at least 32"):
        patient_key("SBJ-123", data_dir=tmp_path)
    configured = "k" * 40
    monkeypatch.setenv("ECG_PATIENT_KEY", f" {configured} ")
    assert patient_key("SBJ-123", data_dir=tmp_path) == hmac.new(configured.encode(), b"SBJ-123",
                                                                  hashlib.sha256).hexdigest()[:32]
    assert not key_file(tmp_path).exists()
    assert "ECG_PATIENT_KEY" in patient_keys.key_source(tmp_path)
    monkeypatch.delenv("ECG_PATIENT_KEY")
    assert "created at the first hospital upload" in patient_keys.key_source(tmp_path)
