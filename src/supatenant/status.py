"""``supatenant status``: a live database explains itself, read only.

Everything is read in one read-only transaction on the target. What the project defines
(tables, their RLS, policies, grants) comes from a scratch database migrated from the
project's files by the real CLI, on ``server`` (default: the embedded server), and is
compared with the target's catalog. ``problems`` lists what needs attention.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from supatenant import database, facts, history
from supatenant.auth import Identity
from supatenant.backends.postgres import act_as
from supatenant.errors import SupatenantError
from supatenant.reference import migrated

Report = dict[str, Any]
Conn = psycopg.Connection[Any]

# README's access matrix, by role; inactive members and members of inactive tenants get nothing
MEMBER_RIGHTS = (
    "read their tenant",
    "read the tenant's members and edit their own display name",
    "create, read, update and archive their own conversations",
    "read the messages of their own conversations and add user turns to them",
    "rate messages they can read; edit and delete their own ratings",
    "read their own usage rows and summaries",
    "search their own conversations",
    "accept an invitation addressed to their own email",
)
ADMIN_RIGHTS = (
    "read every conversation, message, rating and usage row of the tenant",
    "add members without an account, re-role and deactivate members (not owners)",
    "invite members and admins, list and revoke invitations",
    "search the whole tenant",
)
OWNER_RIGHTS = (
    "update the tenant's name and settings",
    "re-role owners and invite owners",
    "hand the owner role to an active member (transfer_ownership)",
)
RIGHTS = {
    "member": MEMBER_RIGHTS,
    "admin": MEMBER_RIGHTS + ADMIN_RIGHTS,
    "owner": MEMBER_RIGHTS + ADMIN_RIGHTS + OWNER_RIGHTS,
}
# the jobs the project schedules, or expects an operator to, by what their command calls
EXPECTED_JOBS = {
    "refresh summaries": "refresh_summaries",
    "archive stale conversations": "archive_stale_conversations",
}


@contextmanager
def _optional(conn: Conn) -> Iterator[None]:
    """A savepoint: a section that fails (a missing privilege or extension) is left out."""
    try:
        with conn.transaction():
            yield
    except psycopg.Error:
        pass


def _rows(conn: Conn, query: LiteralString, params: Any = None) -> list[tuple[Any, ...]]:
    return conn.execute(query, params).fetchall()


def _migrations(conn: Conn, project: Path) -> Report:
    files = history.migration_files(project)
    applied = history.applied_migrations(conn) or []
    cmp = history.compare(files, applied)
    return {
        "files": len(files),
        "applied": len(applied),
        "newest_applied": applied[-1].version if applied else None,
        "pending": [f.path.name for f in cmp.pending],
        "older_than_newest_applied": [f.path.name for f in cmp.out_of_order],
        "unknown": [a.version for a in cmp.unknown],
        "edited": [f.path.name for f in cmp.edited],
    }


def _tables(expected: facts.Facts, actual: facts.Facts) -> list[Report]:
    out = []
    for (kind, name), value in sorted(expected.items()):
        if kind != "table" or value.split("|")[0] not in ("r", "p"):
            continue
        present = actual.get(("table", name))
        rls = present is not None and present.split("|")[1] == "t"
        out.append(
            {
                "table": name,
                "present": present is not None,
                "rls": rls,
                "rls_expected": value.split("|")[1] == "t",
            }
        )
    for (kind, name), value in sorted(actual.items()):
        if kind == "table" and ("table", name) not in expected and value.split("|")[0] in ("r", "p"):
            out.append(
                {"table": name, "present": True, "rls": value.split("|")[1] == "t", "rls_expected": None}
            )
    return out


def _differences(expected: facts.Facts, actual: facts.Facts, kind: str) -> list[Report]:
    pick = {k: v for k, v in expected.items() if k[0] == kind}
    have = {k: v for k, v in actual.items() if k[0] == kind}
    return [
        {"object": d.object, "change": d.change, "expected": d.expected, "actual": d.actual}
        for d in facts.diff(pick, have)
    ]


_MATVIEWS: LiteralString = """
select c.oid, c.oid::regclass::text, c.relname, c.relispopulated
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'm' and n.nspname not in ('pg_catalog', 'information_schema')
order by 2
"""


def _cron_installed(conn: Conn) -> bool:
    row = conn.execute("select exists (select 1 from pg_extension where extname = 'pg_cron')").fetchone()
    return bool(row and row[0])


def _materialized_views(conn: Conn) -> list[Report]:
    out = []
    cron = _cron_installed(conn)
    for oid, name, relname, populated in _rows(conn, _MATVIEWS):
        view: Report = {
            "view": name,
            "populated": populated,
            "rows": None,
            "stale_rows": None,
            "last_refresh": None,
        }
        if populated:
            definition = str(conn.execute("select pg_get_viewdef(%s::oid)", (oid,)).fetchone()[0])  # type: ignore[index]
            query = definition.strip().rstrip(";")
            relation = sql.SQL(name)  # the server's own quoted name
            with _optional(conn):
                row = conn.execute(sql.SQL("select count(*) from {}").format(relation)).fetchone()
                view["rows"] = row[0] if row else None
            with _optional(conn):
                # rows that a refresh now would add or remove: what the view misses of the present
                stale = sql.SQL(
                    "select count(*) from ((select * from {rel} except all select * from ({q}) a)"
                    " union all (select * from ({q}) b except all select * from {rel})) d"
                ).format(rel=relation, q=sql.SQL(query))  # the server's own text
                row = conn.execute(stale).fetchone()
                view["stale_rows"] = row[0] if row else None
        if cron:
            with _optional(conn):
                row = conn.execute(
                    "select max(r.end_time) from cron.job_run_details r join cron.job j on j.jobid = r.jobid"
                    " where r.status = 'succeeded' and (j.command ilike '%%' || %(v)s || '%%' or exists ("
                    "   select 1 from pg_proc p"
                    "   where p.prosrc ilike '%%refresh materialized view%%' || %(v)s || '%%'"
                    "   and j.command ilike '%%' || p.proname || '%%'))",
                    {"v": relname},
                ).fetchone()
                view["last_refresh"] = row[0].isoformat() if row and row[0] else None
        out.append(view)
    return out


def _cron(conn: Conn) -> Report:
    if not _cron_installed(conn):
        return {
            "installed": False,
            "jobs": [],
            "expected": [{"job": job, "scheduled": False} for job in EXPECTED_JOBS],
        }
    jobs: list[Report] = []
    with _optional(conn):
        for name, schedule, command, active, last_run, last_status in _rows(
            conn,
            "select j.jobname, j.schedule, j.command, j.active, r.end_time, r.status from cron.job j"
            " left join lateral (select end_time, status from cron.job_run_details d where d.jobid = j.jobid"
            "   order by d.start_time desc limit 1) r on true order by j.jobid",
        ):
            jobs.append(
                {
                    "name": name,
                    "schedule": schedule,
                    "command": command,
                    "active": active,
                    "last_run": last_run.isoformat() if last_run else None,
                    "last_status": last_status,
                }
            )
    expected = [
        {"job": job, "scheduled": any(call in j["command"] and j["active"] for j in jobs)}
        for job, call in EXPECTED_JOBS.items()
    ]
    return {"installed": True, "jobs": jobs, "expected": expected}


def _sizes(conn: Conn) -> list[Report]:
    return [
        {"relation": name, "kind": kind, "total_bytes": total, "table_bytes": table, "index_bytes": index}
        for name, kind, total, table, index in _rows(
            conn,
            "select c.oid::regclass::text, case c.relkind when 'm' then 'materialized view' else 'table' end,"
            " pg_total_relation_size(c.oid), pg_table_size(c.oid), pg_indexes_size(c.oid)"
            " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where c.relkind in ('r', 'p', 'm') and n.nspname = any(%s)"
            " order by pg_total_relation_size(c.oid) desc, 1",
            (list(facts.SCHEMAS),),
        )
    ]


def _indexes(conn: Conn) -> Report:
    unused = [
        {"index": index, "table": table, "bytes": size, "scans": scans}
        for index, table, size, scans in _rows(
            conn,
            "select s.indexrelid::regclass::text, s.relid::regclass::text, pg_relation_size(s.indexrelid),"
            " s.idx_scan from pg_stat_user_indexes s join pg_index i on i.indexrelid = s.indexrelid"
            " where s.schemaname = any(%s) and s.idx_scan = 0 and not i.indisprimary and not i.indisunique"
            " order by pg_relation_size(s.indexrelid) desc, 1",
            (list(facts.SCHEMAS),),
        )
    ]
    # a column a policy filters rows by (select, update, delete) that no index holds
    missing = [
        {"table": table, "column": column, "policies": list(policies)}
        for table, column, policies in _rows(
            conn,
            "select p.polrelid::regclass::text, a.attname::text, array_agg(distinct p.polname::text)"
            " from pg_policy p join pg_class c on c.oid = p.polrelid"
            " join pg_depend d on d.classid = 'pg_policy'::regclass and d.objid = p.oid"
            "  and d.refobjid = p.polrelid and d.refobjsubid > 0"
            " join pg_attribute a on a.attrelid = p.polrelid and a.attnum = d.refobjsubid"
            " where p.polcmd <> 'a'"
            "  and c.relnamespace in (select oid from pg_namespace where nspname = any(%s))"
            "  and not exists (select 1 from pg_index i where i.indrelid = p.polrelid"
            "   and a.attnum = any(i.indkey::int2[]))"
            " group by 1, 2 order by 1, 2",
            (list(facts.SCHEMAS),),
        )
    ]
    return {"unused": unused, "missing": missing}


def _connections(conn: Conn) -> dict[str, int]:
    return {
        str(state): int(n)
        for state, n in _rows(
            conn,
            "select coalesce(state, 'background'), count(*) from pg_stat_activity"
            " where datname = current_database() group by 1 order by 1",
        )
    }


def _statements(conn: Conn) -> Report:
    row = conn.execute(
        "select exists (select 1 from pg_extension where extname = 'pg_stat_statements')"
    ).fetchone()
    if not row or not row[0]:
        return {"installed": False, "top": []}
    top: list[Report] = []
    loaded = False
    with _optional(conn):
        for query, calls, total, mean in _rows(
            conn,
            "select s.query, s.calls, s.total_exec_time, s.mean_exec_time from pg_stat_statements s"
            " where s.dbid = (select oid from pg_database where datname = current_database())"
            " order by s.total_exec_time desc limit 10",
        ):
            top.append({"query": " ".join(query.split()), "calls": calls, "total_ms": total, "mean_ms": mean})
        loaded = True
    return {"installed": True, "loaded": loaded, "top": top}


def _as_user(conn: Conn, auth_user_id: uuid.UUID) -> Report:
    report: Report = {
        "auth_user_id": str(auth_user_id),
        "account": False,
        "memberships": [],
        "visible_rows": {},
    }
    with _optional(conn):
        row = conn.execute("select email from auth.users where id = %s", (auth_user_id,)).fetchone()
        report["account"] = row is not None
        report["email"] = row[0] if row else None
    with _optional(conn):
        for tenant, name, tenant_active, member, role, active in _rows(
            conn,
            "select t.id, t.name, t.is_active, u.id, u.role, u.is_active from public.users u"
            " join public.tenants t on t.id = u.tenant_id where u.auth_id = %s order by t.name, t.id",
            (auth_user_id,),
        ):
            effective = active and tenant_active
            report["memberships"].append(
                {
                    "tenant_id": str(tenant),
                    "tenant": name,
                    "tenant_active": tenant_active,
                    "member_id": str(member),
                    "role": role,
                    "active": active,
                    "can": list(RIGHTS.get(role, ())) if effective else [],
                }
            )
    # what RLS actually lets them read, acting exactly as PostgREST would for their token
    with _optional(conn):
        tables = [
            r[0]
            for r in _rows(
                conn,
                "select c.relname::text from pg_class c where c.relnamespace = 'public'::regnamespace"
                " and c.relkind in ('r', 'v') order by 1",
            )
        ]
        with conn.transaction():
            act_as(conn, Identity.user(auth_user_id))
            for table in tables:
                with _optional(conn):
                    query = sql.SQL("select count(*) from public.{}").format(sql.Identifier(table))
                    row = conn.execute(query).fetchone()
                    report["visible_rows"][table] = row[0] if row else None
            conn.execute("reset role")
    return report


def _problems(report: Report) -> list[str]:
    problems = []
    m = report["migrations"]
    problems += [f"migration {name} is not applied" for name in m["pending"]]
    problems += [
        f"migration {name} is older than the newest applied one" for name in m["older_than_newest_applied"]
    ]
    problems += [f"applied migration {v} has no file in supabase/migrations/" for v in m["unknown"]]
    problems += [f"migration {name} was edited after it was applied" for name in m["edited"]]
    for t in report["tables"]:
        if not t["present"]:
            problems.append(f"table {t['table']} is missing")
        elif t["rls_expected"] and not t["rls"]:
            problems.append(f"table {t['table']} has RLS off")
        elif t["rls_expected"] is None and not t["rls"] and t["table"].startswith("public."):
            problems.append(f"table {t['table']} is exposed without RLS")
    for kind in ("policies", "grants"):
        for d in report[kind]:
            problems.append(f"{kind[:-1]} {d['object']}: {d['change']}")
    for v in report["materialized_views"]:
        if not v["populated"]:
            problems.append(f"materialized view {v['view']} was never refreshed")
        elif v["stale_rows"]:
            problems.append(f"materialized view {v['view']} is stale: {v['stale_rows']} rows differ")
    if report["cron"]["installed"]:  # without pg_cron the jobs run elsewhere: a note, not a problem
        for job in report["cron"]["expected"]:
            if not job["scheduled"]:
                problems.append(f"no pg_cron job runs '{job['job']}'")
    for ix in report["indexes"]["missing"]:
        problems.append(f"{ix['table']}.{ix['column']} is read by policies but no index holds it")
    return problems


def collect(target_url: str, server_url: str, project: Path, as_user: uuid.UUID | None = None) -> Report:
    """The status of ``target_url`` against ``project``; the target is only read."""
    database.check_reachable(target_url)
    with migrated(server_url, project) as reference_url, psycopg.connect(reference_url) as ref:
        expected = facts.read(ref)
    with psycopg.connect(target_url) as conn:
        conn.read_only = True
        with conn.transaction():
            # every name read schema-qualified
            conn.execute("select set_config('search_path', '', true)")
            actual = facts.read(conn)
            report: Report = {
                "database": database.redact(target_url),
                "server_version": conn.info.server_version,
                "migrations": _migrations(conn, project),
                "tables": _tables(expected, actual),
                "policies": _differences(expected, actual, "policy"),
                "grants": _differences(expected, actual, "grant"),
                "materialized_views": _materialized_views(conn),
                "cron": _cron(conn),
                "sizes": _sizes(conn),
                "indexes": _indexes(conn),
                "connections": _connections(conn),
                "statements": _statements(conn),
            }
            if as_user is not None:
                report["as"] = _as_user(conn, as_user)
    report["problems"] = _problems(report)
    report["notes"] = _notes(report)
    return report


def _notes(report: Report) -> list[str]:
    """What to know that is not a fault: the maintenance jobs pg_cron would run, without it."""
    if report["cron"]["installed"]:
        return []
    jobs = ", ".join(f"'{job['job']}'" for job in report["cron"]["expected"])
    return [f"pg_cron is not installed: run {jobs} from a scheduler of your own (`supatenant maintain`)"]


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def render_json(report: Report) -> str:
    return json.dumps(report, indent=2, default=str)


def render_text(report: Report) -> str:
    lines = [f"database {report['database']} (PostgreSQL {report['server_version']})", ""]
    m = report["migrations"]
    lines.append(
        f"migrations: {m['applied']} applied, {m['files']} files, newest applied {m['newest_applied']}"
    )
    for key, label in (
        ("pending", "pending"),
        ("older_than_newest_applied", "older than the newest applied"),
        ("unknown", "applied, no file"),
        ("edited", "edited after applied"),
    ):
        for name in m[key]:
            lines.append(f"  {label}: {name}")
    lines.append("")
    lines.append("tables:")
    for t in report["tables"]:
        state = "MISSING" if not t["present"] else "RLS on" if t["rls"] else "RLS OFF"
        if t["present"] and t["rls_expected"] is False:
            state = "RLS off, as the migrations define it"
        extra = "" if t["rls_expected"] is not None else "  (not defined by the migrations)"
        lines.append(f"  {t['table']:<40} {state}{extra}")
    for kind in ("policies", "grants"):
        lines.append(f"{kind}: " + ("as the migrations define them" if not report[kind] else "differences"))
        for d in report[kind]:
            lines.append(f"  {d['change']:<9} {d['object']}")
            if d["change"] == "different":
                lines.append(f"            expected {d['expected']}")
                lines.append(f"            found    {d['actual']}")
    lines.append("")
    lines.append("materialized views:")
    for v in report["materialized_views"]:
        stale = "never refreshed" if not v["populated"] else f"{v['stale_rows']} rows stale"
        refreshed = v["last_refresh"] or "unknown (no pg_cron run recorded)"
        lines.append(f"  {v['view']:<40} {v['rows']} rows, {stale}, last refresh {refreshed}")
    cron = report["cron"]
    lines.append("pg_cron: " + ("installed" if cron["installed"] else "not installed"))
    for job in cron["jobs"]:
        lines.append(
            f"  {job['name']} '{job['schedule']}' {job['command']}"
            f" ({'active' if job['active'] else 'inactive'}; last {job['last_status'] or 'never run'})"
        )
    for job in cron["expected"]:
        lines.append(f"  {job['job']}: {'scheduled' if job['scheduled'] else 'NOT scheduled'}")
    lines.append("")
    lines.append("sizes (total / table / indexes):")
    for s in report["sizes"]:
        lines.append(
            f"  {s['relation']:<40} {_bytes(s['total_bytes']):>10} {_bytes(s['table_bytes']):>10}"
            f" {_bytes(s['index_bytes']):>10}"
        )
    ix = report["indexes"]
    lines.append(f"unused indexes (no scans since statistics were reset): {len(ix['unused'])}")
    for u in ix["unused"]:
        lines.append(f"  {u['index']} on {u['table']} ({_bytes(u['bytes'])})")
    lines.append(f"policy columns without an index: {len(ix['missing'])}")
    for u in ix["missing"]:
        lines.append(f"  {u['table']}.{u['column']} ({', '.join(u['policies'])})")
    lines.append("connections: " + ", ".join(f"{k} {v}" for k, v in report["connections"].items()))
    st = report["statements"]
    if not st["installed"]:
        lines.append("top statements: pg_stat_statements is not installed")
    elif not st["loaded"]:
        lines.append(
            "top statements: pg_stat_statements is installed but not loaded (shared_preload_libraries)"
        )
    else:
        lines.append("top statements by total time:")
        for s in st["top"]:
            lines.append(f"  {s['total_ms']:>12.1f} ms {s['calls']:>8} calls  {s['query'][:100]}")
    if "as" in report:
        a = report["as"]
        lines.append("")
        account = a.get("email") or ("an account" if a["account"] else "no such account in auth.users")
        lines.append(f"as {a['auth_user_id']} ({account}):")
        if not a["memberships"]:
            lines.append("  no memberships: RLS lets them read nothing")
        for ms in a["memberships"]:
            state = "active" if ms["active"] and ms["tenant_active"] else "INACTIVE (gets nothing)"
            lines.append(
                f"  {ms['role']} of {ms['tenant']} ({ms['tenant_id']}), member {ms['member_id']}, {state}"
            )
            lines.extend(f"    may {right}" for right in ms["can"])
        lines.append(
            "  rows RLS lets them read: " + ", ".join(f"{k} {v}" for k, v in a["visible_rows"].items())
        )
    lines.append("")
    problems = report["problems"]
    lines.extend(f"note: {n}" for n in report["notes"])
    lines.append("healthy" if not problems else f"{len(problems)} problems:")
    lines.extend(f"  - {p}" for p in problems)
    return "\n".join(lines) + "\n"


def _run(args: argparse.Namespace) -> int:
    from supatenant import embedded
    from supatenant.project import project_dir

    target: str = args.database_url or embedded.start()
    server: str = args.server or embedded.start()
    try:
        report = collect(target, server, project_dir(), args.as_user)
    except SupatenantError as e:
        print(f"supatenant: {e}", file=sys.stderr)
        return 2
    print(render_json(report) if args.format == "json" else render_text(report), end="")
    return 1 if report["problems"] else 0


def add_command(sub: Any) -> None:
    """Register ``supatenant status`` on the CLI's subparsers."""
    status = sub.add_parser(
        "status", help="read-only health report of a database against the project's migrations"
    )
    status.add_argument("--database-url", help="the database to inspect (default: the embedded server)")
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.add_argument(
        "--as",
        dest="as_user",
        type=uuid.UUID,
        metavar="AUTH_USER_ID",
        help="also show that auth user's memberships, roles, rights and the rows RLS lets them read",
    )
    status.add_argument(
        "--server",
        help="server for the scratch database migrated from the project (default: the embedded server)",
    )
    status.set_defaults(run=_run)
