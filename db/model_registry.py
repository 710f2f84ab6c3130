"""Which model is the default, decided by a person: promotion, rejection, rollback (issue #21).

The shipped bundles in ``models/`` are files in git and are never rewritten. The store keeps an
append-only table of decisions (``model_promotions``, migration 0008): the default model for
``n`` -lead records is the bundle of the newest ``promote`` or ``rollback`` row for ``n`` leads, and
the shipped default (:func:`ecgcore.bundle.default_bundle_path`) when there is none. Every decision
is audited in the same transaction. Predictions already stored keep their model name and version;
a new default adds runs under its own version, nothing is overwritten.

The refusal rule (:func:`worse_claimed_labels`): a candidate whose paired AUROC difference from
the model it was compared with has a 95% CI entirely below zero on any label it claims (its card's
``trained_labels``), on any comparison set, is not promoted unless an admin states why; the
reason is written into the candidate's card (a patch version, weights untouched) and into the row.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from db import audit
from db.config import candidates_dir
from db.errors import DBError, InvalidInputError, NotFoundError
from db.models import ModelPromotion, User, utcnow
from db.session import Database
from db.users import acting_user
from ecgcore.bundle import WEIGHTS_FILE, ModelCard, default_bundle_path, list_bundles, load_card, update_card
from ecgcore.config import models_dir
from ecgcore.errors import ModelError
from ecgcore.hashing import file_sha256

DEFAULT_ACTIONS = ("promote", "rollback")  # rows that name a default
COMPARISON_KEY = "comparison"  # where train.compare writes into a candidate card's metrics


class PromotionRefusedError(DBError):
    """A candidate is worse than the current default on a label it claims, and no override was stated."""


class BundleChangedError(DBError):
    """A registered bundle's weights no longer match the sha256 recorded when it was promoted."""


@dataclass(frozen=True)
class Decision:
    """One row of the model registry, as pages and the command line show it."""

    id: int
    at: datetime
    user: str | None
    action: str
    n_leads: int
    bundle_path: Path
    weights_sha256: str
    model_name: str
    model_version: str
    override_reason: str | None
    comparison: dict[str, Any] | None

    @property
    def display_name(self) -> str:
        return f"{self.model_name} v{self.model_version}"


# -- paths and hashes --------------------------------------------------------------------------
def weights_sha256(bundle: str | os.PathLike[str]) -> str:
    """sha256 of a bundle's weights file (what the registry pins)."""
    path = Path(bundle) / WEIGHTS_FILE
    if not path.is_file():
        raise InvalidInputError(f"{bundle} is not a model bundle: it has no {WEIGHTS_FILE}.")
    return file_sha256(path)


def _stored_path(bundle: Path) -> str:
    """Relative to the models directory when the bundle lies in it (so the folder can move), else absolute."""
    bundle = bundle.resolve()
    try:
        return bundle.relative_to(models_dir().resolve()).as_posix()
    except ValueError:
        return str(bundle)


def _resolved_path(stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else models_dir() / path


def _decision(row: ModelPromotion, names: dict[int, str]) -> Decision:
    return Decision(row.id, row.at, names.get(row.user_id) if row.user_id else None, row.action, row.n_leads,
                    _resolved_path(row.bundle_path), row.weights_sha256, row.model_name, row.model_version,
                    row.override_reason, row.comparison)


# -- reading ------------------------------------------------------------------------------------
def candidates(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """Candidate bundles on disk (``ECG_CANDIDATES_DIR``, default ``<models>/candidates``), newest first."""
    created = {}
    for path in list_bundles(directory if directory is not None else candidates_dir()):
        try:
            created[path] = load_card(path).created
        except ModelError:  # a damaged card is not offered for promotion
            continue
    return sorted(created, key=created.get, reverse=True)


def history(db: Database, n_leads: int | None = None) -> list[Decision]:
    """Every decision (optionally for one lead count), newest first."""
    query = select(ModelPromotion).order_by(ModelPromotion.id.desc())
    if n_leads is not None:
        query = query.where(ModelPromotion.n_leads == n_leads)
    with db.transaction() as session:
        names = dict(session.execute(select(User.id, User.name)).all())
        return [_decision(row, names) for row in session.scalars(query)]


def current_default(db: Database, n_leads: int) -> Decision | None:
    """The newest promote/rollback decision for ``n_leads``-lead records, None if no admin decided yet."""
    return next((d for d in history(db, n_leads) if d.action in DEFAULT_ACTIONS), None)


def registered_default(db: Database, n_leads: int) -> Path | None:
    """The promoted default bundle for ``n_leads`` leads, its weights checked; None: use the shipped default."""
    decision = current_default(db, n_leads)
    return None if decision is None else verified_bundle(decision)


def verified_bundle(decision: Decision) -> Path:
    """The bundle of a registry decision, after checking its weights are the ones decided on."""
    try:
        actual = weights_sha256(decision.bundle_path)
    except InvalidInputError:
        raise BundleChangedError(
            f"The default {decision.n_leads}-lead model {decision.display_name} was promoted from "
            f"{decision.bundle_path}, which no longer holds a bundle. Restore the folder, or roll back to another "
            "version (python -m db models rollback).") from None
    if actual != decision.weights_sha256:
        raise BundleChangedError(
            f"The weights of the default {decision.n_leads}-lead model {decision.display_name} at "
            f"{decision.bundle_path} were replaced after promotion (sha256 mismatch); they are not served. Restore "
            "the promoted file, or roll back to another version (python -m db models rollback).")
    return decision.bundle_path


def default_bundle(db: Database | None, n_leads: int = 12) -> Path:
    """The bundle to serve for ``n_leads``-lead records: the store's promoted default when a store is
    given and an admin promoted one, else the shipped default (NoDefaultModelError if none is installed)."""
    registered = registered_default(db, n_leads) if db is not None else None
    return registered if registered is not None else default_bundle_path(n_leads)


def worse_claimed_labels(card: ModelCard) -> list[dict[str, Any]]:
    """The refusal rule: rows of the card's comparison where a label the candidate claims is worse than
    the model it was compared with beyond the CI (upper bound of the paired AUROC difference < 0)."""
    comparison = card.metrics.get(COMPARISON_KEY) if isinstance(card.metrics, dict) else None
    if not comparison:
        return []
    claimed = set(card.trained_labels)
    return [row for row in comparison.get("per_label", [])
            if row.get("label") in claimed and row.get("diff_ci") and row["diff_ci"][1] is not None
            and row["diff_ci"][1] < 0]


def _summary(card: ModelCard) -> dict[str, Any] | None:
    comparison = card.metrics.get(COMPARISON_KEY) if isinstance(card.metrics, dict) else None
    if not comparison:
        return None
    return {"base": comparison.get("base"), "sets": comparison.get("sets"),
            "worse_labels": [f"{r['label']} ({r['set']})" for r in worse_claimed_labels(card)]}


# -- deciding -----------------------------------------------------------------------------------
def _record(db: Database, action: str, bundle: Path, card: ModelCard, *, actor: str | int | None,
            audit_action: str, override_reason: str | None = None, details: dict[str, Any] | None = None) -> Decision:
    with db.transaction() as session:
        user = acting_user(session, actor, "manage_models")
        row = ModelPromotion(at=utcnow(), user_id=user.id if user else None, action=action,
                             n_leads=len(card.input_leads), bundle_path=_stored_path(bundle),
                             weights_sha256=weights_sha256(bundle), model_name=card.name,
                             model_version=card.version, override_reason=override_reason, comparison=_summary(card))
        session.add(row)
        session.flush()
        audit.log(session, audit_action, user_id=user.id if user else None, target=f"model:{card.name}:{card.version}",
                  details={"decision": row.id, "bundle": row.bundle_path, "n_leads": row.n_leads,
                           "weights_sha256": row.weights_sha256, **(details or {}),
                           **({"override_reason": override_reason} if override_reason else {})})
        names = {user.id: user.name} if user else {}
        return _decision(row, names)


def _bundle_card(bundle: str | os.PathLike[str]) -> tuple[Path, ModelCard]:
    path = Path(bundle)
    try:
        card = load_card(path)
    except ModelError as error:
        raise InvalidInputError(str(error)) from None
    if card.weights_sha256 and weights_sha256(path) != card.weights_sha256:
        raise InvalidInputError(f"{path}: the weights do not match the sha256 in its card (corrupt or replaced).")
    return path, card


def promote(db: Database, bundle: str | os.PathLike[str], *, actor: str | int | None,
            override_reason: str | None = None) -> Decision:
    """Make ``bundle`` the default for its lead count (refusal rule in the module docstring)."""
    _check_may_decide(db, actor)  # first: a refused promotion must not touch the card
    path, card = _bundle_card(bundle)
    current = current_default(db, len(card.input_leads))
    if current is not None and current.weights_sha256 == weights_sha256(path) and current.bundle_path.resolve() == path.resolve():
        raise InvalidInputError(f"{card.display_name} is already the default {len(card.input_leads)}-lead model.")
    worse = worse_claimed_labels(card)
    reason = (override_reason or "").strip() or None
    if worse and reason is None:
        listed = ", ".join(f"{r['label']} on {r['set']} ({r['diff']:+.3f}, CI {r['diff_ci'][0]:+.3f} to "
                           f"{r['diff_ci'][1]:+.3f})" for r in worse)
        raise PromotionRefusedError(
            f"{card.display_name} is worse than {_base_name(card)} beyond the 95% CI on claimed label(s): {listed}. "
            "It is not promoted without an override: state the reason (it is written into the model's card).")
    if worse:
        override = {"reason": reason, "by": _actor_name(db, actor), "at": utcnow().isoformat(timespec="seconds"),
                    "worse_labels": [f"{r['label']} ({r['set']})" for r in worse], "promoted_version": card.version}
        card = update_card(path, training={**card.training, "promotion_override": override})
    elif reason:
        raise InvalidInputError("An override reason is only taken when the refusal rule applies; this candidate "
                                "is not worse on any claimed label, so promote it without one.")
    return _record(db, "promote", path, card, actor=actor, audit_action="model_promote", override_reason=reason,
                   details={"replaces": current.display_name if current else "shipped default"})


def reject(db: Database, bundle: str | os.PathLike[str], *, actor: str | int | None, reason: str = "") -> Decision:
    """Turn a candidate down (it stays on disk, listed as rejected); the current default cannot be rejected."""
    _check_may_decide(db, actor)
    path, card = _bundle_card(bundle)
    current = current_default(db, len(card.input_leads))
    if current is not None and current.bundle_path.resolve() == path.resolve():
        raise InvalidInputError(f"{card.display_name} is the default model: roll back to another version first.")
    return _record(db, "reject", path, card, actor=actor, audit_action="model_reject",
                   override_reason=(reason or "").strip() or None)


def rollback_targets(db: Database, n_leads: int = 12) -> list[Decision]:
    """Earlier defaults one may roll back to (newest first, one per bundle, the current one left out)."""
    defaults = [d for d in history(db, n_leads) if d.action in DEFAULT_ACTIONS]

    def key(d: Decision) -> tuple[str, str]:
        return str(d.bundle_path.resolve()), d.weights_sha256

    seen = {key(defaults[0])} if defaults else set()
    targets = []
    for decision in defaults[1:]:
        if key(decision) not in seen:
            seen.add(key(decision))
            targets.append(decision)
    return targets


def rollback(db: Database, *, actor: str | int | None, n_leads: int = 12, to: int | None = None) -> Decision:
    """Make an earlier default the default again: decision ``to`` (an id from :func:`history`), or the
    shipped default when ``to`` is None. Refused when its weights changed since it was registered."""
    _check_may_decide(db, actor)
    if to is None:
        path, card = _bundle_card(default_bundle_path(n_leads))
        target_name = "shipped default"
    else:
        target = next((d for d in history(db, n_leads) if d.id == to and d.action in DEFAULT_ACTIONS), None)
        if target is None:
            raise NotFoundError(f"No earlier default with decision id {to} for {n_leads}-lead records; choose one of "
                                f"{[d.id for d in rollback_targets(db, n_leads)]} or none for the shipped default.")
        path, card = _bundle_card(target.bundle_path)
        if weights_sha256(path) != target.weights_sha256:
            raise BundleChangedError(f"{target.bundle_path} holds other weights than {target.display_name} had when "
                                     "it was the default; it is not restored.")
        target_name = target.display_name
    current = current_default(db, n_leads)
    if current is None and to is None:
        raise InvalidInputError(f"The shipped default already serves {n_leads}-lead records: nothing to roll back.")
    if current is not None and current.bundle_path.resolve() == path.resolve() and current.weights_sha256 == weights_sha256(path):
        raise InvalidInputError(f"{card.display_name} is already the default {n_leads}-lead model.")
    return _record(db, "rollback", path, card, actor=actor, audit_action="model_rollback",
                   details={"from": current.display_name if current else "shipped default", "to": target_name})


def decisions_for(db: Database, bundle: str | os.PathLike[str]) -> list[Decision]:
    """The decisions taken on one bundle folder, newest first (the candidate list's status column)."""
    resolved = Path(bundle).resolve()
    return [d for d in history(db) if d.bundle_path.resolve() == resolved]


def status_of(db: Database, bundle: str | os.PathLike[str], n_leads: int) -> str:
    """``default``, ``promoted earlier``, ``rejected`` or ``awaiting decision`` for a candidate bundle."""
    current = current_default(db, n_leads)
    if current is not None and current.bundle_path.resolve() == Path(bundle).resolve():
        return "default"
    decisions = decisions_for(db, bundle)
    if not decisions:
        return "awaiting decision"
    return "rejected" if decisions[0].action == "reject" else "promoted earlier"


def record_candidate(db: Database, bundle: str | os.PathLike[str], *, actor: str | int | None) -> None:
    """Audit that ``actor`` trained the candidate at ``bundle`` from the reviews (its card holds the rest)."""
    path, card = _bundle_card(bundle)
    with db.transaction() as session:
        user = acting_user(session, actor, "train_candidates")
        lineage = card.training.get("lineage", {}) if isinstance(card.training, dict) else {}
        audit.log(session, "model_candidate", user_id=user.id if user else None,
                  target=f"model:{card.name}:{card.version}",
                  details={"bundle": _stored_path(path), "weights_sha256": weights_sha256(path),
                           "base": lineage.get("base_model", {}).get("version"),
                           "n_reviewed_records": lineage.get("reviews", {}).get("n_records")})


def check_may_train(db: Database, actor: str | int | None) -> None:
    """PermissionDeniedError unless ``actor`` may start a candidate (cardiologists and admins)."""
    with db.transaction() as session:
        acting_user(session, actor, "train_candidates")


def _base_name(card: ModelCard) -> str:
    base = (card.metrics.get(COMPARISON_KEY) or {}).get("base") or {}
    return f"{base.get('name', 'the base model')} v{base.get('version', '?')}" if base else "the base model"


def _check_may_decide(db: Database, actor: str | int | None) -> None:
    with db.transaction() as session:
        acting_user(session, actor, "manage_models")


def _actor_name(db: Database, actor: str | int | None) -> str | None:
    if actor is None:
        return None
    with db.transaction() as session:
        user = acting_user(session, actor, "manage_models")
        return user.name if user else None


def shipped_default(n_leads: int = 12) -> Path:
    """The shipped default bundle for ``n_leads`` leads (what a rollback with no target restores)."""
    return default_bundle_path(n_leads)


__all__: Sequence[str] = ["BundleChangedError", "Decision", "PromotionRefusedError", "candidates", "current_default",
                          "decisions_for", "default_bundle", "history", "promote", "record_candidate", "registered_default", "reject",
                          "rollback", "rollback_targets", "shipped_default", "status_of", "verified_bundle", "weights_sha256",
                          "worse_claimed_labels"]
