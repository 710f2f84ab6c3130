"""The label vocabulary verdicts are checked against.

Verdicts are stored by label *name* (not index) so a later vocabulary change cannot silently
re-map old verdicts; the check below makes sure only names the model and the training code know
get in.
"""

from __future__ import annotations

from collections.abc import Iterable

from db.errors import UnknownLabelError
from ecgcore.labels import ecgfounder_labels


def vocabulary() -> tuple[str, ...]:
    """The label names verdicts and predictions may use (the ECGFounder 150, in model order)."""
    return ecgfounder_labels()


def check_labels(names: Iterable[str]) -> list[str]:
    """Return ``names`` as a list, raising :class:`UnknownLabelError` naming every unknown one."""
    names = list(names)
    known = set(vocabulary())
    unknown = [n for n in names if n not in known]
    if unknown:
        shown = ", ".join(repr(n) for n in unknown[:10])
        raise UnknownLabelError(
            f"Unknown label name(s): {shown}{' ...' if len(unknown) > 10 else ''}. "
            f"Use names from the ECGFounder vocabulary ({len(known)} labels, e.g. {vocabulary()[0]!r})."
        )
    return names
