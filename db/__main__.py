"""Command line of the review store.

    python -m db info                       where the store is, schema revision, counts
    python -m db upgrade                    create / migrate the schema (the app also does it on first use)
    python -m db create-user NAME --role cardiologist   (password read from stdin or prompted)
    python -m db backup OUT.sqlite [--force]            consistent copy while the app runs
    python -m db export OUT_DIR [--by NAME]             expert-review test set
    python -m db queue                      records needing a second review or adjudication
    python -m db agreement                  Cohen's kappa per pair, Fleiss' kappa per label

``ECG_DB_URL`` selects the database, ``ECG_DATA_DIR`` the data directory (default ./data/local).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlalchemy import func, select

from db.errors import DBError
from db.session import Database


def _password(args: argparse.Namespace) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("Passwords differ.")
    return first


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
    args = parser.parse_args(argv)

    try:
        db = Database()
        if args.command in ("info", "upgrade"):
            from db.migrate import current_revision
            from db.models import Review, StoredRecord, User

            with db.transaction() as session:
                counts = {m.__tablename__: session.scalar(select(func.count()).select_from(m))
                          for m in (User, StoredRecord, Review)}
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
        elif args.command == "queue":
            from db.consensus import review_queue

            print(review_queue(db, include_unreviewed=True).to_string(index=False))
        elif args.command == "agreement":
            from db.agreement import agreement_report

            report = agreement_report(db)
            print(report["pairs"].to_string(index=False), "\n")
            print(report["labels"].to_string(index=False))
        db.dispose()
    except DBError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
