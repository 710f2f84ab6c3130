"""Patient keys: the store links a patient's ECGs by a keyed hash, never by the identifier itself.

A hospital file names its patient by an identifier (MRN, patient ID). The store keeps only

    patient_key = HMAC-SHA256(installation key, normalised identifier), first 32 hex characters

so two uploads of the same patient share a ``records.patient_key`` (the prior-ECG comparison
builds on that) while the identifier is stored nowhere. Identifiers are short and guessable
(``12345678``), so a plain hash could be reversed by trying them all; the installation key is what
prevents that, and it is kept *outside* the database on purpose: a copy of the database alone
cannot be matched against a list of identifiers.

* **Normalised identifier**: surrounding white space removed, upper-cased (``" jax01234 "`` and
  ``"JAX01234"`` link; ``"01234"`` and ``"1234"`` do not). A placeholder is no identity and gets
  no key (None): empty, no letter or digit, one character repeated (``0000``, ``9999``,
  ``XXXXXX``, ``---``) or a word such as ``UNKNOWN``/``ANONYMOUS`` (:data:`PLACEHOLDER_IDS`);
  otherwise every test patient ``9999`` of a cart would become one person.
* **Installation key**: ``ECG_PATIENT_KEY`` when set (at least :data:`MIN_SECRET_CHARS`
  characters; give every server of a deployment the same value), else the file
  ``<data dir>/patient_key`` (64 hex characters, mode 0600), created with
  ``secrets.token_bytes(32)`` on first use. Creation is atomic: the key is written to a private
  temporary file and hard-linked to its name, which fails if the name exists, so processes
  starting together end up with the first one's key and nobody ever reads a half-written file.
  To move a file key into ``ECG_PATIENT_KEY``, set the variable to the file's content.
* **Losing the key breaks linking** (new uploads of a patient get another key, the old ones keep
  theirs), and a different key gives different hashes: back the file up with the database.

Neither the identifier nor the key is ever logged or put in an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
import time
from pathlib import Path

from db import config
from db.errors import InvalidInputError, StorageError

log = logging.getLogger(__name__)

KEY_FILE_NAME = "patient_key"
PATIENT_KEY_CHARS = 32  # hex characters kept of the HMAC-SHA256 (128 bits): records.patient_key
MIN_SECRET_CHARS = 32  # ECG_PATIENT_KEY must be at least this long (a short key can be guessed)
PLACEHOLDER_IDS = frozenset({"UNKNOWN", "ANONYMOUS", "ANONYMIZED", "ANONYMISED", "ANON", "NA", "NONE", "NULL",
                             "NOID", "NOPATIENTID", "DEMO", "TEST", "TESTPATIENT"})
_KEY_FILE_TEXT = re.compile(r"[0-9a-f]{64}")
_READ_ATTEMPTS = 50  # x 20 ms: how long a key file being written by another process is waited for


def normalise_patient_id(patient_id: str | None) -> str | None:
    """The identifier as it is hashed (stripped, upper-case), or None for none or a placeholder."""
    if patient_id is None:
        return None
    text = str(patient_id).strip().upper()
    alnum = "".join(ch for ch in text if ch.isalnum())
    if not alnum or len(set(alnum)) == 1 or alnum in PLACEHOLDER_IDS:
        return None
    return text


def key_file(data_dir: Path | str | None = None) -> Path:
    """Where the installation key is kept when ``ECG_PATIENT_KEY`` is not set."""
    return Path(data_dir if data_dir is not None else config.data_dir()) / KEY_FILE_NAME


def key_source(data_dir: Path | str | None = None) -> str:
    """Where the key comes from, for ``python -m db info`` (never the key itself)."""
    if config.patient_key_secret():
        return f"{config.PATIENT_KEY_ENV} (environment)"
    path = key_file(data_dir)
    return f"{path.resolve()}" + ("" if path.exists() else " (created at the first hospital upload)")


def installation_secret(data_dir: Path | str | None = None) -> bytes:
    """The installation key: ``ECG_PATIENT_KEY``, else the data directory's key file (created if missing)."""
    configured = config.patient_key_secret()
    if configured is not None:
        if len(configured) < MIN_SECRET_CHARS:
            raise InvalidInputError(
                f"{config.PATIENT_KEY_ENV} is {len(configured)} characters long; it must have at least "
                f"{MIN_SECRET_CHARS} (e.g. the output of `python -c \"import secrets; print(secrets.token_hex(32))\"`).")
        return configured.encode("utf-8")
    return _load_or_create(key_file(data_dir)).encode("ascii")


def patient_key(patient_id: str | None, *, data_dir: Path | str | None = None, secret: bytes | None = None) -> str | None:
    """The keyed hash of a patient identifier (32 hex characters), or None for none or a placeholder.

    ``data_dir`` is the store's data directory (``Database.data_dir``; default ``ECG_DATA_DIR``);
    ``secret`` overrides the installation key (tests).
    """
    normalised = normalise_patient_id(patient_id)
    if normalised is None:
        return None
    key = secret if secret is not None else installation_secret(data_dir)
    return hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()[:PATIENT_KEY_CHARS]


# -- the key file ----------------------------------------------------------------------------------
def _read_key_file(path: Path) -> str | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StorageError(f"Cannot read the patient key file {path}: {error.strerror or error}.") from None
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return ""  # not a key file we wrote: reported as such below


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_key_file(path: Path) -> None:
    """Write a new key under ``path`` unless another process did first (then nothing happens)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = secrets.token_bytes(32).hex() + "\n"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)  # atomic, and fails if the name exists: the first process wins
            except FileExistsError:
                return
            except OSError:  # a filesystem without hard links: exclusive create of the name itself
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    return
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as error:
        raise StorageError(f"Cannot create the patient key file {path}: {error.strerror or error}. Make the data "
                           f"directory writable, or set {config.PATIENT_KEY_ENV}.") from None
    _fsync_dir(path.parent)
    log.info("Created this installation's patient key in %s; back it up with the database "
             "(without it, new uploads no longer link to earlier ones of the same patient).", path)


def _load_or_create(path: Path) -> str:
    for _ in range(_READ_ATTEMPTS):
        text = _read_key_file(path)
        if text is None:
            _create_key_file(path)
            continue
        if _KEY_FILE_TEXT.fullmatch(text):
            _warn_if_readable_by_others(path)
            return text
        time.sleep(0.02)  # empty or short: another process may be writing it (no-hard-link filesystems)
    raise StorageError(f"The patient key file {path} does not hold a key (64 hex characters). Restore it from "
                       f"the backup; deleting it would start a new key, and new uploads would no longer link "
                       f"to earlier ECGs of the same patient.")


def _warn_if_readable_by_others(path: Path) -> None:
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        log.warning("The patient key file %s can be read by other users (mode %o); run `chmod 600` on it.",
                    path, mode)


__all__ = ["KEY_FILE_NAME", "MIN_SECRET_CHARS", "PATIENT_KEY_CHARS", "PLACEHOLDER_IDS", "installation_secret",
           "key_file", "key_source", "normalise_patient_id", "patient_key"]
