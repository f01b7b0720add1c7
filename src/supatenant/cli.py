"""The ``supatenant`` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supatenant import bundle, database, embedded, status
from supatenant.check import report as check_command
from supatenant.errors import SetupError, SupatenantError
from supatenant.governance import commands as governance
from supatenant.project import project_dir

if TYPE_CHECKING:
    from supatenant.seeding.api import Passwords
    from supatenant.seeding.plan import TenantRows


def _server(args: argparse.Namespace) -> str:
    """--database-url, else $DATABASE_URL, else the embedded server (the `local` extra)."""
    url: str = args.database_url or os.environ.get("DATABASE_URL") or embedded.start()
    return url


def _up(args: argparse.Namespace) -> int:
    from supatenant import init

    project = project_dir()
    if not bundle.is_checkout(project) and init.read_marker(project) is None:
        raise SetupError(
            f"supatenant's migrations are not in {project}/supabase yet: run `supatenant init` there first"
        )
    missing = init.pending(project)
    if missing:
        print(
            f"supatenant: this package ships {len(missing)} migration(s) that {project}/supabase lacks "
            f"({', '.join(missing)}): `supatenant init --upgrade` adds them",
            file=sys.stderr,
        )
    url = _server(args)
    output = database.prepare(url)
    applied = [line for line in output.splitlines() if line.startswith("Applying migration")]
    print("\n".join(applied) if applied else "schema is up to date")
    print(url)
    return 0


def _down(_: argparse.Namespace) -> int:
    print("embedded PostgreSQL stopped" if embedded.stop() else "embedded PostgreSQL was not running")
    return 0


def _init(args: argparse.Namespace) -> int:
    from supatenant import init

    project = Path(args.project).resolve() if args.project else project_dir_or_cwd()
    outcome = init.init(project, upgrade=args.upgrade)
    for path in outcome.written:
        print(f"added {path.relative_to(project)}")
    if not outcome.written:
        print(f"nothing to add: {project}/supabase holds every migration of supatenant {outcome.version}")
    elif outcome.previous:
        print(f"upgraded supatenant's migrations from {outcome.previous} to {outcome.version}")
    if outcome.renumbered:
        first, last = min(outcome.renumbered.values()), max(outcome.renumbered.values())
        print(
            f"supatenant's migrations sort before your newest, so they were added as versions {first} "
            f"to {last}, after it; supabase/supatenant.json maps each to supatenant's own version"
        )
    print(f"next: `supatenant up --database-url URL` (or `npx supabase db push`) in {project}")
    return 0


def project_dir_or_cwd() -> Path:
    """The Supabase project above the working directory, else the working directory itself."""
    try:
        return project_dir()
    except SetupError:
        return Path.cwd()


def _rollback(args: argparse.Namespace) -> int:
    url = _server(args)
    undone = database.rollback(url, args.to)
    print("\n".join(f"rolled back {v}" for v in undone) if undone else "nothing to roll back")
    return 0


def _gen(args: argparse.Namespace) -> int:
    from supatenant import codegen  # needs the dev extras (datamodel-code-generator)

    if not bundle.is_checkout(project_dir()):
        raise SetupError(
            "supatenant gen regenerates supatenant's own models and types in its repository; "
            "for your app's types use `npx supabase gen types`"
        )
    server = _server(args)
    differing = codegen.generate(server, check=args.check)
    root = project_dir()
    for path in differing:
        verb = "differs from the schema" if args.check else "written"
        print(f"{path.relative_to(root)}: {verb}")
    if not differing:
        print("generated files are up to date")
    return 1 if args.check and differing else 0


def _seed(args: argparse.Namespace) -> int:
    import dataclasses
    import os
    from datetime import UTC, datetime, time

    from supatenant.seeding.load import Report, plan, seed_database
    from supatenant.seeding.plan import PRESETS, today

    if args.supabase_url and not _has_supabase_sdk():
        print(
            "supatenant: seeding through --supabase-url needs the supabase SDK: "
            "pip install 'supatenant[supabase]'",
            file=sys.stderr,
        )
        return 2
    if bool(args.supabase_url) != bool(args.service_role_key):
        print("supatenant: --supabase-url and --service-role-key go together", file=sys.stderr)
        return 2
    if args.password_secret and not args.supabase_url:
        print(
            "supatenant: --password-secret goes with --supabase-url: only members created through "
            "the Auth API have passwords",
            file=sys.stderr,
        )
        return 2
    sizes = PRESETS[args.preset]
    given = {k: getattr(args, k) for k in _SIZE_FLAGS if getattr(args, k) is not None}
    sizes = dataclasses.replace(sizes, **given)

    def progress(done: int, total: int) -> None:
        if total >= 10 and sys.stderr.isatty():
            bar = "#" * (30 * done // total)
            print(f"\r[{bar:<30}] {done}/{total} tenants", end="" if done < total else "\n", file=sys.stderr)

    end = datetime.combine(args.end, time(), UTC) if args.end else today()
    report: Report
    passwords: Passwords | None = None
    try:
        seeding = plan(sizes, args.seed, end)
        project = None
        if args.supabase_url:
            from supatenant.seeding.api import SECRET_ENV, ApiTarget, Passwords, connect

            passwords = Passwords(args.password_secret or os.environ.get(SECRET_ENV) or None)
            project = ApiTarget(connect(args.supabase_url, args.service_role_key), passwords)
        try:
            if project and not args.database_url:  # rows through PostgREST
                from supatenant.seeding.load import run

                report = run(project, seeding, progress)
            else:  # rows through COPY; members through the Auth admin API when given a project
                url = _server(args)
                report, seeding = seed_database(url, sizes, args.seed, end, progress, args.jobs, project)
        except BaseException:
            # members already created keep the passwords they got: save them for the re-run
            if args.credentials and passwords is not None and passwords.issued:
                _save_members(_members(seeding.heads, passwords), args.credentials)
                print(f"members created so far written to {args.credentials}", file=sys.stderr)
            raise
    except ValueError as e:
        print(f"supatenant: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\nsupatenant: interrupted; every finished tenant is complete, a re-run writes the rest",
            file=sys.stderr,
        )
        return 130
    rate = report.messages_written / report.seconds if report.seconds else 0
    print(
        f"seeded {report.tenants_written} tenants ({report.tenants_present} already there), "
        f"{report.messages_written} messages in {report.seconds:.1f} s ({rate:,.0f} messages/s)"
    )
    _print_members(_members(seeding.heads, passwords), args.credentials, passwords)
    return 0


def _has_supabase_sdk() -> bool:
    import importlib.util

    return importlib.util.find_spec("supabase") is not None


def _members(heads: list[TenantRows], passwords: Passwords | None) -> list[dict[str, Any]]:
    """Every planned member; with a project, each with the password this run knows, or None."""
    members = [dict(c) for head in heads for c in head.credentials]
    if passwords is not None:
        for member in members:
            member["password"] = passwords.known(member["email"])
    return members


def _print_members(members: list[dict[str, Any]], path: str | None, passwords: Passwords | None) -> None:
    """Members to stdout, never with their passwords; those go only into the file at ``path``."""
    if path:
        saved = _save_members(members, path)
        print(f"members written to {path}" + (" with their passwords" if passwords else ""))
        unknown = sum(1 for m in saved if passwords is not None and m["password"] is None)
        if unknown:
            print(
                f"({unknown} members were created by an earlier run whose passwords were not saved: "
                "reset their passwords to sign in as them)"
            )
        return
    if len(members) > 50:
        print(f"{len(members)} members: pass --credentials FILE to have them all")
    else:
        for m in members:
            line = f"{m['email']:<44} {m['role']:<6} tenant {m['tenant_slug']:<12} auth {m['auth_id']}"
            print(line + ("" if m["active"] else "  (inactive)"))
    if passwords is None:
        print("(no passwords: act as a member by auth id, e.g. Store.connect(url, auth_user_id=...))")
    elif passwords.derived:
        print(
            "(passwords are not printed: run again with --credentials FILE and the same secret "
            "to have them written there)"
        )
    elif passwords.issued:
        print(
            f"(passwords were not saved: the {len(passwords.issued)} members created now got random "
            "passwords that nobody knows; reset them to sign in, or seed with --credentials FILE "
            "or a password secret)"
        )
    else:
        print("(passwords are never printed; no member was created now)")


def _save_members(members: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    """Write ``members`` as JSON, readable by the owner only, and return what was written. A
    password this run does not know (a member an earlier run created) is kept from the file
    that run wrote, if any."""
    import json
    import os

    earlier = _saved_passwords(path)
    members = [
        m | {"password": earlier.get((m["email"], m["auth_id"]))}
        if "password" in m and m["password"] is None
        else m
        for m in members
    ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that was already there keeps its mode through open()
    with os.fdopen(fd, "w") as f:
        json.dump(members, f, indent=2)
    return members


def _saved_passwords(path: str) -> dict[tuple[str, str], str]:
    """(email, auth id) -> password from a members file an earlier run wrote; empty if none."""
    import json

    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(saved, list):
        return {}
    return {
        (m["email"], m["auth_id"]): m["password"]
        for m in saved
        if isinstance(m, dict) and isinstance(m.get("password"), str) and "email" in m and "auth_id" in m
    }


_SIZE_FLAGS = (
    "tenants",
    "users_per_tenant",
    "conversations_per_user",
    "messages_per_conversation",
    "feedback_rate",
    "days",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="supatenant", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser(
        "init", help="put supatenant's migrations into your Supabase project (supabase/migrations/)"
    )
    init.add_argument(
        "--project", metavar="DIR", help="the folder holding supabase/config.toml (default: found above .)"
    )
    init.add_argument(
        "--upgrade", action="store_true", help="after upgrading the package: add its new migrations"
    )
    init.set_defaults(run=_init)
    up = sub.add_parser("up", help="bring a database to the current schema and print its URL")
    up.add_argument(
        "--database-url",
        help="PostgreSQL URL to migrate (default: $DATABASE_URL, else the embedded server in .supatenant/)",
    )
    up.set_defaults(run=_up)
    down = sub.add_parser("down", help="stop the embedded server")
    down.set_defaults(run=_down)
    rollback = sub.add_parser(
        "rollback", help="undo migrations newest first with supabase/rollbacks/ (destroys their data)"
    )
    rollback.add_argument(
        "--database-url", help="PostgreSQL URL (default: $DATABASE_URL, else the embedded server)"
    )
    rollback.add_argument(
        "--to", metavar="VERSION", help="keep migrations up to this version (default: undo all)"
    )
    rollback.set_defaults(run=_rollback)
    gen = sub.add_parser(
        "gen", help="regenerate types/schema.json, the Pydantic models and the TypeScript types"
    )
    gen.add_argument(
        "--database-url",
        help="server to create a scratch database on (default: $DATABASE_URL, else the embedded server)",
    )
    gen.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    gen.set_defaults(run=_gen)
    seed = sub.add_parser("seed", help="fill a database with realistic, deterministic test data")
    seed.add_argument(
        "--database-url",
        help="PostgreSQL URL (default: $DATABASE_URL unless --supabase-url is given, else the embedded "
        "server); rows are loaded with COPY. With "
        "--supabase-url too, members are created through the project's Auth admin API",
    )
    seed.add_argument(
        "--supabase-url",
        help="a Supabase project's API URL: members are created through the Auth admin API and "
        "can sign in with passwords written to --credentials FILE (random, unless a secret is given)",
    )
    seed.add_argument("--service-role-key", help="the project's service role (secret) key")
    seed.add_argument("--preset", choices=("tiny", "demo", "load"), default="demo")
    for flag in _SIZE_FLAGS:
        kind = float if flag == "feedback_rate" else int
        seed.add_argument("--" + flag.replace("_", "-"), type=kind, help="overrides the preset")
    seed.add_argument("--seed", type=int, default=1, help="same seed, same rows (default 1)")
    seed.add_argument(
        "--end",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the seeded span ends at the start of this UTC day (default today); "
        "fix it to get the same rows on any day",
    )
    seed.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="worker processes writing tenants over --database-url (default: one per CPU, up to 4, "
        "for runs large enough to gain from them)",
    )
    seed.add_argument(
        "--credentials",
        metavar="FILE",
        help="write every seeded member, with their password when created through --supabase-url, "
        "as JSON to FILE (mode 0600); passwords are never printed",
    )
    seed.add_argument(
        "--password-secret",
        metavar="SECRET",
        help="with --supabase-url: derive each member's password from SECRET (HMAC) instead of "
        "choosing it at random, so every run gives the same passwords; also read from "
        "$SUPATENANT_SEED_PASSWORD_SECRET, which keeps it out of the process list",
    )
    seed.set_defaults(run=_seed)
    governance.register(sub)
    check_command.add_parser(sub)
    status.add_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except SupatenantError as e:
        print(f"supatenant: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a path that cannot be written, a file in the way
        print(f"supatenant: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # a database the command could not use (a bad URL, one that went away)
        import psycopg

        if not isinstance(e, psycopg.Error):
            raise
        print(f"supatenant: the database refused or could not be reached: {e}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
