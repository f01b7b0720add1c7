"""The ``supatenant`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from typing import Any

from supatenant import database, embedded
from supatenant.errors import SupatenantError
from supatenant.project import project_dir


def _up(args: argparse.Namespace) -> int:
    url: str = args.database_url or embedded.start()
    output = database.prepare(url)
    applied = [line for line in output.splitlines() if line.startswith("Applying migration")]
    print("\n".join(applied) if applied else "schema is up to date")
    print(url)
    return 0


def _down(_: argparse.Namespace) -> int:
    print("embedded PostgreSQL stopped" if embedded.stop() else "embedded PostgreSQL was not running")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    url: str = args.database_url or embedded.start()
    undone = database.rollback(url, args.to)
    print("\n".join(f"rolled back {v}" for v in undone) if undone else "nothing to roll back")
    return 0


def _gen(args: argparse.Namespace) -> int:
    from supatenant import codegen  # needs the dev extras (datamodel-code-generator)

    server: str = args.database_url or embedded.start()
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
    from datetime import UTC, datetime, time

    from seeds.load import Report, plan, seed_database
    from seeds.plan import PRESETS, today

    if bool(args.supabase_url) != bool(args.service_role_key):
        print("supatenant: --supabase-url and --service-role-key go together", file=sys.stderr)
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
    try:
        project = None
        if args.supabase_url:
            from seeds.api import ApiTarget, connect

            project = ApiTarget(connect(args.supabase_url, args.service_role_key))
        if project and not args.database_url:  # rows through PostgREST
            from seeds.load import run

            seeding = plan(sizes, args.seed, end)
            report = run(project, seeding, progress)
        else:  # rows through COPY; members through the Auth admin API when given a project
            url: str = args.database_url or embedded.start()
            report, seeding = seed_database(url, sizes, args.seed, end, progress, args.jobs, project)
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
    credentials = [c for head in seeding.heads for c in head.credentials]
    _print_members(credentials, args.credentials, bool(args.supabase_url))
    return 0


def _print_members(credentials: list[dict[str, Any]], path: str | None, can_sign_in: bool) -> None:
    """Members with their passwords where they can sign in (seeded through the Auth API)."""
    import json

    if not can_sign_in:
        credentials = [{k: v for k, v in c.items() if k != "password"} for c in credentials]
    if path:
        with open(path, "w") as f:
            json.dump(credentials, f, indent=2)
        print(f"members written to {path}")
        return
    if len(credentials) > 50:
        print(f"{len(credentials)} members: pass --credentials FILE to have them all")
        return
    for c in credentials:
        line = f"{c['email']:<44} {c['role']:<6} tenant {c['tenant_slug']:<12} auth {c['auth_id']}"
        print(
            line
            + (f"  password {c['password']}" if can_sign_in else "")
            + ("" if c["active"] else "  (inactive)")
        )
    if not can_sign_in:
        print("(no passwords: act as a member by auth id, e.g. Store.connect(url, auth_user_id=...))")


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
    up = sub.add_parser("up", help="bring a database to the current schema and print its URL")
    up.add_argument(
        "--database-url",
        help="PostgreSQL URL to migrate (default: start the embedded server in .supatenant/)",
    )
    up.set_defaults(run=_up)
    down = sub.add_parser("down", help="stop the embedded server")
    down.set_defaults(run=_down)
    rollback = sub.add_parser(
        "rollback", help="undo migrations newest first with supabase/rollbacks/ (destroys their data)"
    )
    rollback.add_argument("--database-url", help="PostgreSQL URL (default: the embedded server)")
    rollback.add_argument(
        "--to", metavar="VERSION", help="keep migrations up to this version (default: undo all)"
    )
    rollback.set_defaults(run=_rollback)
    gen = sub.add_parser(
        "gen", help="regenerate types/schema.json, the Pydantic models and the TypeScript types"
    )
    gen.add_argument(
        "--database-url",
        help="server to create a scratch database on (default: the embedded server)",
    )
    gen.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    gen.set_defaults(run=_gen)
    seed = sub.add_parser("seed", help="fill a database with realistic, deterministic test data")
    seed.add_argument(
        "--database-url",
        help="PostgreSQL URL (default: the embedded server); rows are loaded with COPY. With "
        "--supabase-url too, members are created through the project's Auth admin API",
    )
    seed.add_argument(
        "--supabase-url",
        help="a Supabase project's API URL: members are created through the Auth admin API and "
        "can sign in with their passwords",
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
    seed.add_argument("--credentials", metavar="FILE", help="write every seeded member's sign-in as JSON")
    seed.set_defaults(run=_seed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except SupatenantError as e:
        print(f"supatenant: {e}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
