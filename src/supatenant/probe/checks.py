"""Checks added or changed on tables that already hold rows: what they would refuse."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import pglast
import psycopg
from psycopg import sql

from supatenant import facts
from supatenant.check.findings import CheckContext, Finding
from supatenant.probe.sqlfile import SqlFile, finding, line_naming

Conn = psycopg.Connection[Any]

_CHECK_COLUMN = """
select a.attname, format_type(a.atttypid, a.atttypmod)
from pg_constraint k join pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[1]
where k.conrelid = to_regclass(%s) and k.conname = %s and k.contype = 'c' and cardinality(k.conkey) = 1
"""


def expression(definition: str) -> str:
    expr = re.sub(r"\s+NOT VALID$", "", definition.split(" (not validated)")[0].strip())
    return expr[len("CHECK ") :] if expr.startswith("CHECK ") else expr


def candidates(definition: str) -> list[str]:
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


def narrowing(conn: Conn, table: str, name: str, old: str, new: str) -> str | None:
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
        old=sql.SQL(expression(old)),  # the server's own constraint text
        new=sql.SQL(expression(new)),
    )
    for value in candidates(old):
        try:
            with conn.transaction():
                if conn.execute(statement, (value,)).fetchone():
                    return value
        except psycopg.Error:
            continue
    return None


def new_checks(
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


def failing_on_target(url: str, table: str, definition: str) -> int | None:
    """How many of the target's rows of ``table`` the check refuses (read only); None when
    that cannot be read there."""
    query = sql.SQL("select count(*) from {} where not coalesce(({}), true)").format(
        sql.SQL(table),
        sql.SQL(expression(definition)),  # the server's own texts
    )
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.read_only = True
            row = conn.execute(query).fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else None


def check_findings(
    conn: Conn, ctx: CheckContext, file: SqlFile, before: facts.Facts, diffs: Sequence[facts.Difference]
) -> Iterator[Finding]:
    for table, name, old, new in new_checks(before, diffs):
        line = line_naming(file, name, last=True)
        rows = failing_on_target(ctx.target_url, table, new) if ctx.target_url else None
        if rows:
            yield finding(
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
            narrowing(conn, table, name.strip('"'), old, new) if old is not None and rows is None else None
        )
        if value is not None:
            yield finding(
                "check-narrowed",
                "warning",
                file,
                line,
                f"the check {name} on {table} now refuses {value!r}, which it accepted before:"
                " existing rows holding such values make this migration fail",
                "widen the check, or add it not valid, fix the rows, then validate",
                f"{table}.{name}",
            )
