"""Who may do what: one table of role -> actions, checked by the store itself.

The app hides what a role cannot do, but the store enforces it too, so a bug or a crafted request
in any front end cannot let a viewer upload or an annotator export. Functions that take an
``actor`` check it when one is given; scripts run by the operator pass none.
"""

from __future__ import annotations

from db.errors import PermissionDeniedError
from db.models import ADJUDICATOR_ROLES, REVIEWER_ROLES, User

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "upload": ("cardiologist", "annotator", "admin"),
    "review": REVIEWER_ROLES,
    "adjudicate": ADJUDICATOR_ROLES,
    "export": ("cardiologist", "admin"),
    "manage_users": ("admin",),
}

_VERBS = {
    "upload": "upload ECGs",
    "review": "review",
    "adjudicate": "adjudicate",
    "export": "export the expert-review set",
    "manage_users": "manage users",
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
