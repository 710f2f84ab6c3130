"""Command line of the review store.

    python -m db info                       where the store is, schema revision, counts
    python -m db upgrade                    create / migrate the schema (the app also does it on first use)
    python -m db create-user NAME --role cardiologist   (password read from stdin or prompted)
    python -m db backup OUT.sqlite [--force]            consistent copy while the app runs
    python -m db export OUT_DIR [--by NAME]             expert-review test set
    python -m db queue                      records needing a second review or adjudication
    python -m db agreement                  Cohen's kappa per pair, Fleiss' kappa per label
    python -m db report RECORD_ID -o OUT.pdf [--role admin] [--no-model] [--paper A4|Letter]
                                            the PDF report of a stored record (also: ecg report RECORD_ID)
    python -m db export-reports OUT_DIR [--by NAME]     confirmed reports as CSV + HL7 aECG
    python -m db assess                     store the signal assessment of records that lack the current version

    python -m db models list [--leads 12]   the default model, the candidates and every decision
    python -m db models promote BUNDLE --by ADMIN [--override-reason TEXT]
    python -m db models reject BUNDLE --by ADMIN [--reason TEXT]
    python -m db models rollback --by ADMIN [--to DECISION_ID] [--leads 12]   (no --to: the shipped default)
    python -m db models default [--leads 12]                 the path of the bundle the app serves

``ECG_DB_URL`` selects the database, ``ECG_DATA_DIR`` the data directory (default ./data/local).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlalchemy import func, select

from db.errors import DBError
from ecgcore.errors import ECGError
from db.session import Database


def _password(args: argparse.Namespace) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("Passwords differ.")
    return first


def _default_predictor_for(db: Database, record_id: int):  # noqa: ANN202 - a Predictor, or None
    """The default model for this record's leads (the one routing rule, the model registry), None if none is installed."""
    from db.model_registry import default_bundle
    from db.records import load_ecg
    from ecgcore.errors import NoDefaultModelError
    from ecgcore.predict import Predictor
    from ecgcore.routing import model_lead_count

    try:  # routed by the record's leads; the store's promoted default when an admin chose one
        return Predictor(default_bundle(db, model_lead_count(load_ecg(db, record_id))))
    except NoDefaultModelError as error:
        print(f"note: {error} The report says the model was not run.", file=sys.stderr)
        return None


def _models_command(db: Database, args: argparse.Namespace) -> None:
    from db import model_registry as registry
    from ecgcore.bundle import load_card

    if args.models_command == "default":
        print(registry.default_bundle(db, args.leads))
    elif args.models_command == "list":
        current = registry.current_default(db, args.leads)
        print(f"default {args.leads}-lead model: "
              + (f"{current.display_name} ({current.bundle_path}), decision {current.id}" if current
                 else f"the shipped default ({registry.shipped_default(args.leads)})"))
        for path in registry.candidates():
            card = load_card(path)
            if len(card.input_leads) == args.leads:
                print(f"candidate {card.display_name}: {registry.status_of(db, path, args.leads)}  {path}")
        for d in registry.history(db, args.leads):
            print(f"decision {d.id}: {d.at:%Y-%m-%d %H:%M} {d.user or '(operator)'} {d.action} {d.display_name} "
                  f"{d.bundle_path}" + (f"  reason: {d.override_reason}" if d.override_reason else ""))
    elif args.models_command == "promote":
        d = registry.promote(db, args.bundle, actor=args.by, override_reason=args.override_reason)
        print(f"{d.display_name} is now the default {d.n_leads}-lead model (decision {d.id})")
    elif args.models_command == "reject":
        d = registry.reject(db, args.bundle, actor=args.by, reason=args.reason)
        print(f"{d.display_name} rejected (decision {d.id})")
    elif args.models_command == "rollback":
        d = registry.rollback(db, actor=args.by, n_leads=args.leads, to=args.to)
        print(f"{d.display_name} is the default {d.n_leads}-lead model again (decision {d.id})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m db", description="ECG review store")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info")
    sub.add_parser("upgrade")
    p = sub.add_parser("create-user")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=["cardiologist", "annotator", "admin", "viewer"])
    p.add_argument("--full-name")
    p = sub.add_parser("reset-password", help="set a temporary password that must be changed at the next sign-in")
    p.add_argument("name")
    p = sub.add_parser("backup")
    p.add_argument("out")
    p.add_argument("--force", action="store_true")
    p = sub.add_parser("export")
    p.add_argument("out")
    p.add_argument("--by")
    p.add_argument("--min-reviewers", type=int, default=2)
    sub.add_parser("queue")
    sub.add_parser("agreement")
    p = sub.add_parser("report", help="the PDF report of a stored record (as the review page downloads it)")
    p.add_argument("record_id", type=int)
    p.add_argument("-o", "--output", required=True, help="the PDF (or .png) to write")
    p.add_argument("--role", default="admin", choices=["cardiologist", "annotator", "admin", "viewer"],
                   help="print what this role may see (names, patient pseudonym); default admin")
    p.add_argument("--no-model", action="store_true", help="do not run the installed default model")
    p.add_argument("--paper", default="A4", choices=["A4", "Letter"])
    p.add_argument("--start-s", type=float, default=None, help="start of the 10-s window in long records")
    p = sub.add_parser("export-reports", help="confirmed reports for other systems: CSV + one HL7 aECG per record")
    p.add_argument("out")
    p.add_argument("--by")
    sub.add_parser("assess", help="assess (ecgcore.assess) every stored record without an assessment of the "
                                  "current version, e.g. records imported before assessments were stored")
    p = sub.add_parser("models", help="the learning loop's registry: list, promote, reject, rollback (issue #21)")
    msub = p.add_subparsers(dest="models_command", required=True)
    for name in ("list", "default"):
        m = msub.add_parser(name)
        m.add_argument("--leads", type=int, default=12, choices=[1, 12])
    m = msub.add_parser("promote", help="make a candidate the default for its lead count (admins)")
    m.add_argument("bundle")
    m.add_argument("--by", required=True)
    m.add_argument("--override-reason", default=None,
                   help="why a candidate worse on a claimed label beyond its CI is promoted anyway (into its card)")
    m = msub.add_parser("reject", help="turn a candidate down (admins)")
    m.add_argument("bundle")
    m.add_argument("--by", required=True)
    m.add_argument("--reason", default="")
    m = msub.add_parser("rollback", help="make an earlier default the default again (admins)")
    m.add_argument("--by", required=True)
    m.add_argument("--to", type=int, default=None, help="decision id from `models list` (default: the shipped model)")
    m.add_argument("--leads", type=int, default=12, choices=[1, 12])
    args = parser.parse_args(argv)

    try:
        db = Database()
        if args.command in ("info", "upgrade"):
            from db.migrate import current_revision
            from db.models import (ConfirmedReport, MeasurementCorrection, MeasurementRun, RecordAssessment, Review,
                                   StoredRecord, User)

            with db.transaction() as session:
                counts = {m.__tablename__: session.scalar(select(func.count()).select_from(m))
                          for m in (User, StoredRecord, Review, MeasurementRun, MeasurementCorrection, ConfirmedReport,
                                    RecordAssessment)}
            print(f"database: {db}\ndata dir: {db.data_dir.resolve()}\nschema: {current_revision(db.engine)}")
            from db.patient_keys import key_source

            print(f"patient key: {key_source(db.data_dir)}")
            print(", ".join(f"{k}: {v}" for k, v in counts.items()))
        elif args.command == "create-user":
            from db.users import create_user

            user = create_user(db, args.name, args.role, _password(args), full_name=args.full_name)
            print(f"created {user.name} ({user.role})")
        elif args.command == "reset-password":
            from db.users import reset_password

            user = reset_password(db, args.name, _password(args))
            print(f"password of {user.name} reset; it must be changed at the next sign-in")
        elif args.command == "backup":
            from db.backup import backup_sqlite

            print(f"backup written to {backup_sqlite(db, args.out, overwrite=args.force)}")
        elif args.command == "export":
            from db.export import export_expert_review, load_expert_review_export

            out = export_expert_review(db, args.out, exported_by=args.by, min_reviewers=args.min_reviewers)
            print(f"exported {len(load_expert_review_export(out, verify=False))} records to {out}")
        elif args.command == "report":
            from db.report_pdf import stored_record_report

            predictor = None if args.no_model else _default_predictor_for(db, args.record_id)
            out = stored_record_report(db, args.record_id, args.role, predictor=predictor, start_s=args.start_s,
                                       paper=args.paper, out=args.output)
            print(f"report of record {args.record_id} written to {out}")
        elif args.command == "export-reports":
            from db.confirmed_reports import export_confirmed_reports

            print(f"confirmed reports exported to {export_confirmed_reports(db, args.out, exported_by=args.by)}")
        elif args.command == "assess":
            from db.assessments import backfill_assessments

            backfill = backfill_assessments(db)
            print(f"assessed {backfill.assessed} record(s), {backfill.already} already assessed, "
                  f"{len(backfill.failed)} failed")
            for record_id, message in backfill.failed:
                print(f"record {record_id}: {message}", file=sys.stderr)
        elif args.command == "models":
            _models_command(db, args)
        elif args.command == "queue":
            from db.consensus import review_queue

            print(review_queue(db, include_unreviewed=True).to_string(index=False))
        elif args.command == "agreement":
            from db.agreement import agreement_report

            report = agreement_report(db)
            print(report["pairs"].to_string(index=False), "\n")
            print(report["labels"].to_string(index=False))
        db.dispose()
    except (DBError, ECGError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
