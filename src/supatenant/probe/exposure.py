"""What only the catalog shows about RLS and exposure, and reads as ``authenticated``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from supatenant.auth import Identity
from supatenant.backends.postgres import act_as
from supatenant.check.findings import Finding
from supatenant.probe.sqlfile import SqlFile, finding, line_naming, message, qualified

Conn = psycopg.Connection[Any]

_EXPOSURE = """
select c.oid::regclass::text, c.relkind, c.relrowsecurity,
       has_table_privilege('anon', c.oid, 'select') or has_table_privilege('authenticated', c.oid, 'select'),
       (select count(*) from pg_policy p where p.polrelid = c.oid),
       (select array_agg(p.polname::text) from pg_policy p where p.polrelid = c.oid and p.polroles = '{0}'),
       coalesce(c.reloptions && '{security_invoker=true,security_invoker=on}', false)
from pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm')
"""
_ANON_FUNCTIONS = """
select p.oid::regprocedure::text from pg_proc p
where p.pronamespace = 'public'::regnamespace and has_function_privilege('anon', p.oid, 'execute')
  and p.prorettype <> 'trigger'::regtype
  and not exists (select 1 from pg_depend d
                  where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
"""


def exposure(conn: Conn, file: SqlFile) -> Iterator[Finding]:
    for name, kind, rls, granted, policies, public_policies, invoker in qualified(conn, _EXPOSURE):
        if name not in file.touched:
            continue
        line = line_naming(file, name)
        if kind in ("r", "p") and not rls and granted:
            yield finding(
                "rls-disabled",
                "error",
                file,
                line,
                f"{name} is readable by anon or authenticated with row-level security off:"
                " every row is public",
                f"alter table {name} enable row level security; and add policies",
                name,
            )
        elif kind in ("r", "p") and rls and granted and policies == 0:
            yield finding(
                "rls-without-policy",
                "info",
                file,
                line,
                f"{name} has row-level security on and no policy: the API roles read nothing of it",
                f"add policies to {name}, or revoke the API roles' grants if that is the intent",
                name,
            )
        for policy in public_policies or ():
            yield finding(
                "policy-role-public",
                "warning",
                file,
                line_naming(file, policy),
                f"policy {policy} on {name} applies to every role, anon included",
                f"name the role: create policy ... on {name} ... to authenticated",
                f"{name}.{policy}",
            )
        if kind == "v" and granted and not invoker:
            yield finding(
                "view-security-invoker",
                "warning",
                file,
                line,
                f"view {name} runs with its owner's rights: it reads past the tables' row-level security",
                f"alter view {name} set (security_invoker = true)",
                name,
            )
        if kind == "m" and granted:
            yield finding(
                "matview-exposed",
                "warning",
                file,
                line,
                f"materialized view {name} is readable by the API roles: it has no row-level security",
                f"revoke select on {name} from anon, authenticated; serve it through a function",
                name,
            )
    for (function,) in qualified(conn, _ANON_FUNCTIONS):
        if function in file.touched:
            yield finding(
                "function-executable-by-anon",
                "warning",
                file,
                line_naming(file, function.split("(")[0]),
                f"{function} is executable by anon (Supabase grants execute on new functions by default)",
                f"revoke execute on function {function} from public, anon",
                function,
            )


def reads_as_authenticated(conn: Conn, file: SqlFile) -> Iterator[Finding]:
    relations = [
        r[0]
        for r in qualified(
            conn,
            "select c.oid::regclass::text from pg_class c where c.relnamespace = 'public'::regnamespace"
            " and c.relkind in ('r', 'p', 'v', 'm')"
            " and has_table_privilege('authenticated', c.oid, 'select')",
        )
        if r[0] in file.touched
    ]
    if not relations:
        return
    with conn.transaction(force_rollback=True):
        act_as(conn, Identity.user(uuid.uuid4()))
        for name in relations:
            try:
                with conn.transaction():
                    conn.execute(
                        sql.SQL("select * from {} limit 1").format(sql.SQL(name))
                    )  # the server's own name
            except psycopg.Error as e:
                if e.sqlstate == "42P17":
                    rule, fix = "policy-reads-own-table", "read the rows through a security definer function"
                else:
                    rule, fix = "policy-fails", "make the policy's expression valid for every row"
                yield finding(
                    rule,
                    "error",
                    file,
                    line_naming(file, name),
                    f"reading {name} as authenticated fails: {message(e)}",
                    fix,
                    name,
                )
