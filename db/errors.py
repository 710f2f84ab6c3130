"""Errors the review store raises on purpose.

They derive from :class:`ecgcore.errors.ECGError` so the app can catch one base class, and each
message is meant to be shown to the user as-is: what went wrong and what to do about it.
Every one of them is raised *after* the transaction was rolled back, so nothing is half-written.
"""

from __future__ import annotations

from ecgcore.errors import ECGError, LabelError


class DBError(ECGError):
    """Base class of every error the review store raises deliberately."""


class NotFoundError(DBError, LookupError):
    """A user, record, prediction or review that the caller named does not exist."""


class DuplicateError(DBError, ValueError):
    """Something that must be unique (a user name) already exists."""


class InvalidInputError(DBError, ValueError):
    """A value is outside what the store accepts (unknown role, verdict, confidence...)."""


class UnknownLabelError(InvalidInputError, LabelError):
    """A label name is not in the vocabulary the store was configured with."""

    def __str__(self) -> str:  # LabelError (a KeyError) would quote the message
        return str(self.args[0]) if self.args else ""


class AuthenticationError(DBError):
    """Wrong user name or password, or the account is deactivated."""


class TooManyAttemptsError(AuthenticationError):
    """Sign-ins for this name failed too often lately; the message says how long to wait."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermissionDeniedError(DBError):
    """The user's role does not allow the action (a viewer saving a review, say)."""


class LastAdminError(PermissionDeniedError):
    """The change would leave the workspace without an active administrator."""


class ReviewConflictError(DBError):
    """The review was changed by someone else (another tab) since it was opened; reload and retry."""


class ImmutableHistoryError(DBError):
    """Something tried to update or delete a saved review, verdict or audit event (append-only tables)."""


class StorageError(DBError):
    """The database or data directory cannot be used (locked, corrupt, unreachable)."""


class ReadOnlyDatabaseError(StorageError):
    """The database is read-only (file permissions, read-only mount or a read-only connection)."""


class DatabaseFullError(StorageError):
    """The disk (or the database's size limit) is full; nothing of the failed operation was kept."""


class ExportError(DBError):
    """An expert-review export could not be written or read back."""
