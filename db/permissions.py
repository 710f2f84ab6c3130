"""Who may do what and who may see what: one table of role -> actions, checked by the store itself.

The app hides what a role cannot do, but the store enforces it too, so a bug or a crafted request
in any front end cannot let a viewer upload or an annotator export. Functions that take an
``actor`` check it when one is given; scripts run by the operator pass none.

What each role may *see* is decided here too, so every page applies the same rule:

* ``see_reviewer_names``: reviewers' names (agreement tables, the verdicts CSV) only for
  cardiologists and admins; everyone else sees stable pseudonyms ("reviewer 1", ...).
* ``see_model_agreement``: the model-vs-reviewer statistics pool the model's output over every
  record, so annotators, who read blinded, never see them.
* :func:`sees_model_output`: a blinded annotator sees a record's model output (findings,
  saliency, the worklist's model score) only once they have saved their own reading of it; the
  same holds for a record's confirmed report (another reader's statements).
* ``see_patient_keys``: the keyed hash that links a patient's ECGs is never shown to viewers.
* ``confirm_reports``: only cardiologists sign a record's final report.
"""

from __future__ import annotations

from collections.abc import Iterable

from db.errors import PermissionDeniedError
from db.models import ADJUDICATOR_ROLES, REVIEWER_ROLES, User

# Roles that read blinded: the model's output of a record stays hidden until they saved a reading.
BLINDED_ROLES = ("annotator",)

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "upload": ("cardiologist", "annotator", "admin"),
    "review": REVIEWER_ROLES,
    # Correcting an interval measurement is part of a reading: whoever reviews may do it.
    "correct_measurements": REVIEWER_ROLES,
    "adjudicate": ADJUDICATOR_ROLES,
    "export": ("cardiologist", "admin"),
    "manage_users": ("admin",),
    "see_reviewer_names": ("cardiologist", "admin"),
    "see_model_agreement": ("cardiologist", "admin", "viewer"),
    # Signing a record's final report is a cardiologist's act: the signature states the role, and an
    # admin account (the workspace's operator) or an annotator says nothing of a physician's reading.
    "confirm_reports": ("cardiologist",),
    # Patient keys (keyed hashes linking a patient's ECGs) are pseudonyms: viewers never see them.
    "see_patient_keys": ("cardiologist", "annotator", "admin"),
    # The learning loop (db.model_registry): physicians start a candidate from their reviews; only an
    # admin makes a model the default, turns one down or rolls back.
    "train_candidates": ("cardiologist", "admin"),
    "manage_models": ("admin",),
}

_VERBS = {
    "upload": "upload ECGs",
    "review": "review",
    "correct_measurements": "correct measurements",
    "adjudicate": "adjudicate",
    "export": "export verdicts or the expert-review set",
    "manage_users": "manage users",
    "see_reviewer_names": "see reviewers' names",
    "see_model_agreement": "see the model-vs-reviewer statistics",
    "confirm_reports": "confirm (sign) a report",
    "see_patient_keys": "see patient keys",
    "train_candidates": "train a candidate model from the reviews",
    "manage_models": "promote, reject or roll back models",
}


def allowed(role: str, action: str) -> bool:
    """Whether ``role`` may do ``action`` (for front ends deciding what to show)."""
    return role in PERMISSIONS[action]


def check(user: User, action: str) -> User:
    """``user`` if active and allowed to do ``action``, else :class:`PermissionDeniedError`."""
    if not user.active or user.deleted_at is not None:
        raise PermissionDeniedError(f"User {user.name!r} is deactivated and cannot {_VERBS[action]}.")
    if not allowed(user.role, action):
        raise PermissionDeniedError(
            f"User {user.name!r} is a {user.role}; only {', '.join(PERMISSIONS[action])} may {_VERBS[action]}."
        )
    return user


def sees_model_output(role: str, own_saved_versions: int) -> bool:
    """Whether a user may see a record's model output, given how many readings of it they saved.

    Blinded roles first record their own reading (``own_saved_versions >= 1``), so their verdict is
    never anchored on the model's; everyone else sees it at once.
    """
    return role not in BLINDED_ROLES or own_saved_versions >= 1


def reviewer_labels(role: str, names: Iterable[str]) -> dict[str, str]:
    """How to show each reviewer's name to ``role``: the name itself, or a stable pseudonym.

    Pseudonyms are numbered in sorted-name order, so the same reviewer keeps the same number on
    every chart of a page and across pages.
    """
    unique = sorted(set(names))
    if allowed(role, "see_reviewer_names"):
        return {name: name for name in unique}
    return {name: f"reviewer {i}" for i, name in enumerate(unique, start=1)}
