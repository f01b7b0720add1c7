"""Findings only running the files can give: a scratch database and probes.

A new database on ``ctx.server_url`` (default: the embedded server) is migrated by the real
Supabase CLI with the project's files up to just before the first file under review. Then
each file under review runs as the CLI runs it, statement by statement, and the catalog is
compared before and after. Probes run in transactions that are rolled back: the file a
second time, its rollback and then the file again, and reads of the tables it touched as
``authenticated``. Supabase's advisors run before the first file and after the last, and
what they report new is attributed to the file that touched the object.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pglast
import psycopg
from pglast import ast
from pglast.enums import ObjectType
from pglast.stream import RawStream
from psycopg import sql

from supatenant import embedded, facts
from supatenant.auth import Identity
from supatenant.backends.postgres import act_as
from supatenant.check.findings import CheckContext, Finding, Severity
from supatenant.codegen.catalog import build_schema
from supatenant.database import drop_database, outside_transaction
from supatenant.project import run_supabase
from supatenant.reference import clone, migrated

Conn = psycopg.Connection[Any]

# SQLSTATEs of a statement naming something that is not there
_UNDEFINED = {"42P01", "3F000", "42703", "42883", "42704", "42P02"}
_RELATION_KINDS = {
    ObjectType.OBJECT_TABLE,
    ObjectType.OBJECT_VIEW,
    ObjectType.OBJECT_MATVIEW,
    ObjectType.OBJECT_INDEX,
    ObjectType.OBJECT_SEQUENCE,
    ObjectType.OBJECT_FOREIGN_TABLE,
}
_ROUTINE_KINDS = {ObjectType.OBJECT_FUNCTION, ObjectType.OBJECT_PROCEDURE, ObjectType.OBJECT_ROUTINE}
_ON_TABLE_KINDS = {
    ObjectType.OBJECT_POLICY: "select exists (select 1 from pg_policy"
    " where polrelid = to_regclass(%s) and polname = %s)",
    ObjectType.OBJECT_TRIGGER: "select exists (select 1 from pg_trigger"
    " where tgrelid = to_regclass(%s) and tgname = %s)",
    ObjectType.OBJECT_RULE: "select exists (select 1 from pg_rewrite"
    " where ev_class = to_regclass(%s) and rulename = %s)",
}
_SHOWN = 3  # differences quoted in a message


@dataclass(frozen=True)
class Statement:
    text: str
    line: int
    node: Any


@dataclass
class _File:
    path: Path
    statements: list[Statement]
    outside: bool  # holds a statement that cannot run in a transaction
    touched: set[str] = field(default_factory=set)


def _parse(path: Path) -> _File | None:
    text = path.read_text()
    try:
        parsed = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return None  # the parser-based rules report it
    statements = []
    for raw in parsed:
        start = raw.stmt_location or 0
        chunk = text[start : start + raw.stmt_len] if raw.stmt_len else text[start:]
        # the statement starts at its first token, after any comments before it
        tokens = [t for t in pglast.parser.scan(chunk) if t.name not in ("SQL_COMMENT", "C_COMMENT")]
        lead = len(chunk.encode()[: tokens[0].start].decode()) if tokens else 0
        statements.append(Statement(chunk[lead:].strip(), text.count("\n", 0, start + lead) + 1, raw.stmt))
    return _File(path, statements, any(outside_transaction(s.node) for s in statements))


def _finding(
    rule: str,
    severity: Severity,
    file: _File,
    line: int | None,
    message: str,
    fix: str,
    obj: str | None = None,
) -> Finding:
    return Finding(rule, severity, message, fix, file=str(file.path), line=line, object=obj)


def _line_naming(file: _File, name: str, last: bool = False) -> int:
    """The first (or last) statement of the file that names ``name`` (its last part), else 1."""
    short = name.split(".")[-1].strip('"')
    lines = [s.line for s in file.statements if re.search(rf"\b{re.escape(short)}\b", s.text, re.IGNORECASE)]
    return (lines[-1] if last else lines[0]) if lines else 1


@contextmanager
def _probe(conn: Conn, rollback: bool) -> Iterator[None]:
    """A transaction rolled back at the end when ``rollback``; else statements commit as they run."""
    if rollback:
        with conn.transaction(force_rollback=True):
            yield
    else:
        yield


def _run(conn: Conn, file: _File, on_statement: Any = None) -> None:
    """Run the file's statements in order, in one transaction unless it cannot have one."""

    def each() -> None:
        for s in file.statements:
            if on_statement is not None:
                on_statement(s)
            try:
                conn.execute(s.text.encode())
            except psycopg.Error as e:
                raise _Failed(s, e) from e

    if file.outside:
        each()
    else:
        with conn.transaction():
            each()


class _Failed(Exception):
    def __init__(self, statement: Statement, error: psycopg.Error) -> None:
        super().__init__(str(error))
        self.statement = statement
        self.error = error


def _qualified(conn: Conn, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Rows of ``query`` read with an empty search path: names come schema-qualified, as in
    :mod:`supatenant.facts`."""
    with conn.transaction():
        row = conn.execute(
            "select current_setting('search_path'), set_config('search_path', '', true)"
        ).fetchone()
        assert row is not None
        rows = conn.execute(query.encode(), params).fetchall()
        # inside a caller's transaction the setting would outlive this block: put it back
        conn.execute("select set_config('search_path', %s, true)", (row[0],))
    return rows


def _message(e: psycopg.Error) -> str:
    return e.diag.message_primary or str(e).splitlines()[0]


def _differences(expected: facts.Facts, actual: facts.Facts) -> str:
    diffs = facts.diff(expected, actual)
    shown = "; ".join(d.describe() for d in diffs[:_SHOWN])
    return shown + (f"; and {len(diffs) - _SHOWN} more" if len(diffs) > _SHOWN else "")


# --- drop ... if exists that did nothing -------------------------------------------------


def _names(obj: Any) -> list[str]:
    return [str(n.sval) for n in obj if isinstance(n, ast.String)]


def _exists(conn: Conn, kind: ObjectType, obj: Any) -> bool | None:
    """Whether the object a drop names exists now; None for kinds not looked at."""
    if kind in _RELATION_KINDS:
        parts = _names(obj)
        ident = sql.Identifier(*parts).as_string(conn)
        row = conn.execute("select to_regclass(%s) is not null", (ident,)).fetchone()
    elif kind in _ROUTINE_KINDS:
        if obj.args_unspecified or obj.objargs is None:
            parts = _names(obj.objname)
            schema = parts[0] if len(parts) > 1 else None
            row = conn.execute(
                "select exists (select 1 from pg_proc where proname = %s"
                " and (pronamespace::regnamespace::text = %s"
                "  or (%s::text is null and pg_function_is_visible(oid))))",
                (parts[-1], schema, schema),
            ).fetchone()
        else:
            row = conn.execute("select to_regprocedure(%s) is not null", (RawStream()(obj),)).fetchone()
    elif kind in _ON_TABLE_KINDS:
        parts = _names(obj)
        table = sql.Identifier(*parts[:-1]).as_string(conn)
        row = conn.execute(_ON_TABLE_KINDS[kind], (table, parts[-1])).fetchone()
    elif kind == ObjectType.OBJECT_SCHEMA:
        row = conn.execute(
            "select exists (select 1 from pg_namespace where nspname = %s)", (obj.sval,)
        ).fetchone()
    elif kind in (ObjectType.OBJECT_TYPE, ObjectType.OBJECT_DOMAIN):
        row = conn.execute("select to_regtype(%s) is not null", (RawStream()(obj),)).fetchone()
    elif kind == ObjectType.OBJECT_EXTENSION:
        row = conn.execute(
            "select exists (select 1 from pg_extension where extname = %s)", (obj.sval,)
        ).fetchone()
    else:
        return None
    return bool(row and row[0])


def _describe_drop(kind: ObjectType, obj: Any) -> str:
    if kind in _ROUTINE_KINDS or kind in (ObjectType.OBJECT_TYPE, ObjectType.OBJECT_DOMAIN):
        return str(RawStream()(obj))
    if isinstance(obj, ast.String):
        return str(obj.sval)
    parts = _names(obj)
    if kind in _ON_TABLE_KINDS:
        return f"{parts[-1]} on {'.'.join(parts[:-1])}"
    return ".".join(parts)


# --- create table if not exists over a different table -----------------------------------


def _columns(conn: Conn, relation: str) -> list[tuple[str, str, bool]]:
    return [
        (str(n), str(t), bool(nn))
        for n, t, nn in conn.execute(
            "select attname, format_type(atttypid, atttypmod), attnotnull from pg_attribute"
            " where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped order by attnum",
            (relation,),
        ).fetchall()
    ]


def _clash(conn: Conn, node: Any) -> tuple[str, list[Any], list[Any]] | None:
    """When ``create table if not exists`` names an existing table of another shape: the
    table, its columns and those the statement declares."""
    rel = node.relation
    ident = sql.Identifier(*[p for p in (rel.schemaname, rel.relname) if p]).as_string(conn)
    existing = _columns(conn, ident)
    if not existing:
        return None
    probe = "supatenant_probe_" + uuid.uuid4().hex[:8]
    copy: Any = pglast.parse_sql(RawStream()(node))[0].stmt
    copy.relation.schemaname = probe
    copy.if_not_exists = False
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(probe)))
            conn.execute(RawStream()(copy).encode())
            declared = _columns(conn, sql.Identifier(probe, rel.relname).as_string(conn))
    except psycopg.Error:
        return None
    if [c[:2] for c in declared] == [c[:2] for c in existing]:
        return None
    return ident, existing, declared


# --- checks narrowed ----------------------------------------------------------------------

_CHECK_COLUMN = """
select a.attname, format_type(a.atttypid, a.atttypmod)
from pg_constraint k join pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[1]
where k.conrelid = to_regclass(%s) and k.conname = %s and k.contype = 'c' and cardinality(k.conkey) = 1
"""


def _expression(definition: str) -> str:
    expr = re.sub(r"\s+NOT VALID$", "", definition.split(" (not validated)")[0].strip())
    return expr[len("CHECK ") :] if expr.startswith("CHECK ") else expr


def _candidates(definition: str) -> list[str]:
    """Values worth trying against a check: its literals, numbers beside them, and strings of
    those lengths."""
    out: list[str] = []
    for token in pglast.parser.scan(definition):
        text = definition.encode()[token.start : token.end + 1].decode()
        if token.name == "SCONST":
            out.append(text[1:-1].replace("''", "'"))
        elif token.name in ("ICONST", "FCONST"):
            n = float(text)
            out += [text, str(n - 1), str(n + 1), str(int(n) - 1), str(int(n) + 1)]
            if 0 < n < 100_000:
                out += ["x" * int(n), "x" * (int(n) + 1)]
    return list(dict.fromkeys(out))


def _narrowing(conn: Conn, table: str, name: str, old: str, new: str) -> str | None:
    """A value the old check accepted and the new one refuses, if one is found."""
    row = conn.execute(_CHECK_COLUMN, (table, name)).fetchone()
    if row is None:
        return None
    column, type_name = row
    query = sql.SQL(
        "select 1 from (select cast(%s as {type}) as {col}) v where ({old}) and not coalesce(({new}), true)"
    )
    statement = query.format(
        type=sql.SQL(type_name),  # the server's own type text
        col=sql.Identifier(column),
        old=sql.SQL(_expression(old)),  # the server's own constraint text
        new=sql.SQL(_expression(new)),
    )
    for value in _candidates(old):
        try:
            with conn.transaction():
                if conn.execute(statement, (value,)).fetchone():
                    return value
        except psycopg.Error:
            continue
    return None


def _new_checks(
    before: facts.Facts, diffs: Sequence[facts.Difference]
) -> list[tuple[str, str, str | None, str]]:
    """(table, check, its previous definition or None, its definition) for each check the
    file adds or changes on a table that existed before it (a new table holds no rows);
    a check added ``not valid`` leaves existing rows alone."""
    out = []
    for d in diffs:
        if d.kind != "constraint" or not (d.actual or "").startswith("CHECK") or d.actual is None:
            continue
        if d.actual.endswith("(not validated)"):
            continue
        table, _, name = d.object.rpartition(".")
        if ("table", table) not in before:
            continue
        old = d.expected
        if d.change == "extra":  # replacing one that was dropped, if the file dropped exactly one
            dropped = [
                x.expected
                for x in diffs
                if x.kind == "constraint"
                and x.change == "missing"
                and x.object.startswith(table + ".")
                and (x.expected or "").startswith("CHECK")
            ]
            old = dropped[0] if len(dropped) == 1 else None
        out.append((table, name, old, d.actual))
    return out


def _failing_on_target(url: str, table: str, definition: str) -> int | None:
    """How many of the target's rows of ``table`` the check refuses (read only); None when
    that cannot be read there."""
    query = sql.SQL("select count(*) from {} where not coalesce(({}), true)").format(
        sql.SQL(table),
        sql.SQL(_expression(definition)),  # the server's own texts
    )
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.read_only = True
            row = conn.execute(query).fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else None


def _check_findings(
    conn: Conn, ctx: CheckContext, file: _File, before: facts.Facts, diffs: Sequence[facts.Difference]
) -> Iterator[Finding]:
    for table, name, old, new in _new_checks(before, diffs):
        line = _line_naming(file, name, last=True)
        rows = _failing_on_target(ctx.target_url, table, new) if ctx.target_url else None
        if rows:
            yield _finding(
                "check-narrowed",
                "error",
                file,
                line,
                f"{rows} existing rows of {table} on the target fail the check {name}:"
                " the migration fails there",
                "fix those rows first, or add the check not valid and validate it once they are fixed",
                f"{table}.{name}",
            )
            continue
        value = (
            _narrowing(conn, table, name.strip('"'), old, new) if old is not None and rows is None else None
        )
        if value is not None:
            yield _finding(
                "check-narrowed",
                "warning",
                file,
                line,
                f"the check {name} on {table} now refuses {value!r}, which it accepted before:"
                " existing rows holding such values make this migration fail",
                "widen the check, or add it not valid, fix the rows, then validate",
                f"{table}.{name}",
            )


# --- what only the catalog shows about RLS and exposure ----------------------------------

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


def _exposure(conn: Conn, file: _File) -> Iterator[Finding]:
    for name, kind, rls, granted, policies, public_policies, invoker in _qualified(conn, _EXPOSURE):
        if name not in file.touched:
            continue
        line = _line_naming(file, name)
        if kind in ("r", "p") and not rls and granted:
            yield _finding(
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
            yield _finding(
                "rls-without-policy",
                "info",
                file,
                line,
                f"{name} has row-level security on and no policy: the API roles read nothing of it",
                f"add policies to {name}, or revoke the API roles' grants if that is the intent",
                name,
            )
        for policy in public_policies or ():
            yield _finding(
                "policy-role-public",
                "warning",
                file,
                _line_naming(file, policy),
                f"policy {policy} on {name} applies to every role, anon included",
                f"name the role: create policy ... on {name} ... to authenticated",
                f"{name}.{policy}",
            )
        if kind == "v" and granted and not invoker:
            yield _finding(
                "view-security-invoker",
                "warning",
                file,
                line,
                f"view {name} runs with its owner's rights: it reads past the tables' row-level security",
                f"alter view {name} set (security_invoker = true)",
                name,
            )
        if kind == "m" and granted:
            yield _finding(
                "matview-exposed",
                "warning",
                file,
                line,
                f"materialized view {name} is readable by the API roles: it has no row-level security",
                f"revoke select on {name} from anon, authenticated; serve it through a function",
                name,
            )
    for (function,) in _qualified(conn, _ANON_FUNCTIONS):
        if function in file.touched:
            yield _finding(
                "function-executable-by-anon",
                "warning",
                file,
                _line_naming(file, function.split("(")[0]),
                f"{function} is executable by anon (Supabase grants execute on new functions by default)",
                f"revoke execute on function {function} from public, anon",
                function,
            )


def _reads_as_authenticated(conn: Conn, file: _File) -> Iterator[Finding]:
    relations = [
        r[0]
        for r in _qualified(
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
                yield _finding(
                    rule,
                    "error",
                    file,
                    _line_naming(file, name),
                    f"reading {name} as authenticated fails: {_message(e)}",
                    fix,
                    name,
                )


_STORAGE = """
select c.oid::regclass::text, c.oid, c.relfilenode from pg_class c
where c.relkind in ('r', 'm') and c.relnamespace in (select oid from pg_namespace where nspname = any(%s))
"""


def _storage(conn: Conn) -> dict[str, tuple[int, int]]:
    """Each table's identity and storage: a table dropped and created again gets a new oid;
    one truncated or rewritten, new storage."""
    return {str(n): (int(o), int(f)) for n, o, f in _qualified(conn, _STORAGE, (list(facts.SCHEMAS),))}


def _line_destroying(file: _File, table: str) -> int:
    """The first drop, truncate or delete naming ``table``, else the first statement naming it."""
    short = table.split(".")[-1].strip('"')
    for s in file.statements:
        destructive = isinstance(s.node, ast.DropStmt | ast.TruncateStmt | ast.DeleteStmt)
        if destructive and re.search(rf"\b{re.escape(short)}\b", s.text, re.IGNORECASE):
            return s.line
    return _line_naming(file, table)


def _data_lost(
    file: _File, before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> Iterator[Finding]:
    for table, (oid, filenode) in sorted(before.items()):
        now = after.get(table)
        if now is None or now == (oid, filenode):
            continue
        what = "drops and creates again" if now[0] != oid else "empties or rewrites"
        yield _finding(
            "destructive-idempotency",
            "error",
            file,
            _line_destroying(file, table),
            f"run a second time, {file.path.name} {what} {table}:"
            " on a database holding data, its rows are lost",
            "guard with if not exists (or a catalog check) instead of dropping, truncating or deleting",
            table,
        )


# --- one file ------------------------------------------------------------------------------


def _touched(diffs: Sequence[facts.Difference]) -> set[str]:
    """The relations and functions a change names (a column's or policy's table, too)."""
    out: set[str] = set()
    for d in diffs:
        name = d.object.split(" to ")[0]
        out.add(name)
        if d.kind in ("column", "policy", "trigger", "constraint") or (d.kind == "grant" and "(" not in name):
            out.add(name.rsplit(".", 1)[0])
    return out


def _probe_file(
    conn: Conn, ctx: CheckContext, file: _File, before: facts.Facts | None
) -> tuple[list[Finding], facts.Facts | None]:
    """The file's findings, and the schema it leaves (None when it fails)."""
    found: list[Finding] = []
    if before is None:
        before = facts.read(conn)
    silent_drops: list[tuple[Statement, ObjectType, Any]] = []

    def before_statement(s: Statement) -> None:
        node = s.node
        if isinstance(node, ast.DropStmt) and node.missing_ok:
            kind = ObjectType(node.removeType or 0)
            for obj in node.objects or ():
                if _exists(conn, kind, obj) is False:
                    silent_drops.append((s, kind, obj))
        elif isinstance(node, ast.CreateStmt) and node.if_not_exists and (clash := _clash(conn, node)):
            table, existing, declared = clash
            have = ", ".join(f"{n} {t}" for n, t, _ in existing)
            want = ", ".join(f"{n} {t}" for n, t, _ in declared)
            found.append(
                _finding(
                    "if-not-exists-clash",
                    "error",
                    file,
                    s.line,
                    f"create table if not exists {table} does nothing: {table} already exists as ({have}),"
                    f" not as declared here ({want})",
                    f"choose another name, or alter the existing {table} explicitly",
                    table,
                )
            )

    try:
        _run(conn, file, before_statement)
    except _Failed as failed:
        undefined = failed.error.sqlstate in _UNDEFINED
        found.append(
            _finding(
                "unknown-reference" if undefined else "migration-fails",
                "error",
                file,
                failed.statement.line,
                f"{file.path.name} fails here on the migrated schema: {_message(failed.error)}",
                "create what it names in an earlier migration, or name what exists at this point"
                if undefined
                else "make the statement valid for the schema the earlier migrations leave",
            )
        )
        return found, None
    after = facts.read(conn)
    diffs = facts.diff(before, after)
    file.touched = _touched(diffs)

    for s, kind, obj in silent_drops:
        if _exists(conn, kind, obj) is False:
            name = _describe_drop(kind, obj)
            found.append(
                _finding(
                    "drop-if-exists-unknown",
                    "warning",
                    file,
                    s.line,
                    f"drop ... if exists {name} did nothing: no such object exists at this point",
                    "check the name; drop what exists, or remove the statement",
                    name,
                )
            )

    found += _check_findings(conn, ctx, file, before, diffs)
    found += _exposure(conn, file)
    found += _reads_as_authenticated(conn, file)

    # run a second time: must pass and change nothing
    try:
        with _probe(conn, not file.outside):
            storage = _storage(conn)
            _run(conn, file)
            again = facts.read(conn)
            found += _data_lost(file, storage, _storage(conn))
    except _Failed as failed:
        found.append(
            _finding(
                "not-rerunnable",
                "error",
                file,
                failed.statement.line,
                f"{file.path.name} fails when run a second time: {_message(failed.error)}",
                "guard the statement (if not exists, or replace, a check of the catalog)",
            )
        )
    else:
        if again != after:
            found.append(
                _finding(
                    "not-rerunnable",
                    "error",
                    file,
                    1,
                    f"{file.path.name} changes the schema when run a second time:"
                    f" {_differences(after, again)}",
                    "make each statement leave the schema as the first run did",
                )
            )
        if file.outside:
            after = again

    rollback = ctx.rollbacks / file.path.name.replace(".sql", ".down.sql")
    down = _parse(rollback) if rollback.is_file() else None
    if down is not None:
        found += _rollback_probe(conn, file, down, before, after)
        if file.outside or down.outside:  # ran for real: the file was applied again
            after = facts.read(conn)
    return found, after


def _rollback_probe(
    conn: Conn, file: _File, down: _File, before: facts.Facts, after: facts.Facts
) -> list[Finding]:
    found = []
    real = file.outside or down.outside
    try:
        with _probe(conn, not real):
            _run(conn, down)
            undone = facts.read(conn)
            if undone != before:
                found.append(
                    _finding(
                        "rollback-not-inverse",
                        "error",
                        down,
                        1,
                        f"{down.path.name} does not restore the schema from before {file.path.name}:"
                        f" {_differences(before, undone)}",
                        "undo exactly what the migration does, in reverse order",
                    )
                )
            _run(conn, file)
            redone = facts.read(conn)
            if redone != after:
                found.append(
                    _finding(
                        "rollback-not-inverse",
                        "error",
                        file,
                        1,
                        f"{file.path.name} applied again after {down.path.name} gives another schema:"
                        f" {_differences(after, redone)}",
                        "make the rollback remove everything the migration creates",
                    )
                )
    except _Failed as failed:
        which = down if failed.statement in down.statements else file
        found.append(
            _finding(
                "rollback-not-inverse",
                "error",
                which,
                failed.statement.line,
                f"{which.path.name} fails in the rollback round trip of {file.path.name}:"
                f" {_message(failed.error)}",
                "the rollback must run on the schema the migration leaves, and the migration after it",
            )
        )
    return found


# --- Supabase's advisors -------------------------------------------------------------------


def advisors(url: str, project: Path) -> list[dict[str, Any]]:
    """``supabase db advisors`` at warning level and above, as the CLI reports them."""
    result = run_supabase("db", "advisors", f"--remote={url}", "--level", "warn", workdir=project)
    start = result.stdout.find("[")
    if result.returncode != 0 or start < 0:
        return []
    found: list[dict[str, Any]] = json.loads(result.stdout[start : result.stdout.rindex("]") + 1])
    return found


def _advisor_findings(
    before: list[dict[str, Any]], after: list[dict[str, Any]], files: list[_File]
) -> Iterator[Finding]:
    known = {a.get("cache_key") for a in before}
    for advice in after:
        if advice.get("cache_key") in known:
            continue
        meta = advice.get("metadata") or {}
        name = ".".join(str(meta[k]) for k in ("schema", "name") if meta.get(k))
        owner = next((f for f in reversed(files) if any(t.split("(")[0] == name for t in f.touched)), None)
        owner = owner or files[-1]
        severity: Severity = "error" if advice.get("level") == "ERROR" else "warning"
        yield _finding(
            "advisor-" + str(advice.get("name", "finding")).replace("_", "-"),
            severity,
            owner,
            _line_naming(owner, name) if name else 1,
            str(advice.get("detail") or advice.get("title")),
            str(advice.get("remediation") or "see Supabase's database advisors"),
            name or None,
        )


def _stale_models(conn: Conn, project: Path) -> list[Finding]:
    """``types/schema.json`` against the schema every migration gives, where the project has one."""
    committed = project / "types" / "schema.json"
    if not committed.is_file():
        return []
    try:
        generated = json.dumps(build_schema(conn), indent=2) + "\n"
    except ValueError:
        return []  # a type the generator does not map: `supatenant gen` says which
    if generated == committed.read_text():
        return []
    return [
        Finding(
            "models-out-of-date",
            "warning",
            "types/schema.json (and the models and types generated with it) differs from the schema"
            " the migrations give",
            "run `supatenant gen` and commit the generated files with the migration",
            file=str(committed),
        )
    ]


def _advisors_elsewhere(url: str, project: Path) -> Future[list[dict[str, Any]]]:
    """The advisors' report on a copy of ``url`` as it is now, computed in the background
    while the files run on ``url``."""
    copy = clone(url)

    def report() -> list[dict[str, Any]]:
        try:
            return advisors(copy, project)
        finally:
            drop_database(copy)

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(report)
    pool.shutdown(wait=False)
    return future


def scratch_findings(ctx: CheckContext) -> Iterable[Finding]:
    if not ctx.under_review:
        return []
    server = ctx.server_url or embedded.start()
    reviewed = set(ctx.under_review)
    first = min(ctx.migrations.index(p) for p in ctx.under_review)
    base = {p.name for p in ctx.migrations[:first]}
    found: list[Finding] = []
    probed: list[_File] = []
    with migrated(server, ctx.project, keep=lambda p: p.name in base) as url:
        advice_before = _advisors_elsewhere(url, ctx.project)
        with psycopg.connect(url, autocommit=True) as conn:
            state: facts.Facts | None = None
            for path in ctx.migrations[first:]:
                file = _parse(path)
                if file is None:
                    break
                if path not in reviewed:  # applied already where it goes: just bring it in
                    try:
                        _run(conn, file)
                    except _Failed:
                        break
                    state = None
                    continue
                file_found, state = _probe_file(conn, ctx, file, state)
                found += file_found
                probed.append(file)
                if state is None:
                    break  # later files would fail on a schema they were not written for
            else:
                found += _stale_models(conn, ctx.project)
        before = advice_before.result()
        if probed:
            found += _advisor_findings(before, advisors(url, ctx.project), probed)
    return found
