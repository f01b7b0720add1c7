"""Migration files as the probes run them: statements with their lines, run as the CLI runs them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pglast
import psycopg
from pglast import ast

from supatenant import facts
from supatenant.check.findings import Finding, Severity
from supatenant.database import outside_transaction

Conn = psycopg.Connection[Any]

_SHOWN = 3  # differences quoted in a message


@dataclass(frozen=True)
class Statement:
    text: str
    line: int
    node: Any


@dataclass
class SqlFile:
    path: Path
    statements: list[Statement]
    outside: bool  # holds a statement that cannot run in a transaction
    touched: set[str] = field(default_factory=set)


def parse(path: Path) -> SqlFile | None:
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
    return SqlFile(path, statements, any(outside_transaction(s.node) for s in statements))


def finding(
    rule: str,
    severity: Severity,
    file: SqlFile,
    line: int | None,
    message: str,
    fix: str,
    obj: str | None = None,
) -> Finding:
    return Finding(rule, severity, message, fix, file=str(file.path), line=line, object=obj)


def line_naming(file: SqlFile, name: str, last: bool = False) -> int:
    """The first (or last) statement of the file that names ``name`` (its last part), else 1."""
    short = name.split(".")[-1].strip('"')
    lines = [s.line for s in file.statements if re.search(rf"\b{re.escape(short)}\b", s.text, re.IGNORECASE)]
    return (lines[-1] if last else lines[0]) if lines else 1


@contextmanager
def probe(conn: Conn, rollback: bool) -> Iterator[None]:
    """A transaction rolled back at the end when ``rollback``; else statements commit as they run."""
    if rollback:
        with conn.transaction(force_rollback=True):
            yield
    else:
        yield


def run(conn: Conn, file: SqlFile, on_statement: Any = None) -> None:
    """Run the file's statements in order, in one transaction unless it cannot have one."""

    def each() -> None:
        for s in file.statements:
            if on_statement is not None:
                on_statement(s)
            try:
                conn.execute(s.text.encode())
            except psycopg.Error as e:
                raise Failed(s, e) from e

    if file.outside:
        each()
    else:
        with conn.transaction():
            each()


class Failed(Exception):
    def __init__(self, statement: Statement, error: psycopg.Error) -> None:
        super().__init__(str(error))
        self.statement = statement
        self.error = error


def qualified(conn: Conn, query: str, params: Any = None) -> list[tuple[Any, ...]]:
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


def message(e: psycopg.Error) -> str:
    return e.diag.message_primary or str(e).splitlines()[0]


def differences(expected: facts.Facts, actual: facts.Facts) -> str:
    diffs = facts.diff(expected, actual)
    shown = "; ".join(d.describe() for d in diffs[:_SHOWN])
    return shown + (f"; and {len(diffs) - _SHOWN} more" if len(diffs) > _SHOWN else "")


def line_destroying(file: SqlFile, table: str) -> int:
    """The first drop, truncate or delete naming ``table``, else the first statement naming it."""
    short = table.split(".")[-1].strip('"')
    for s in file.statements:
        destructive = isinstance(s.node, ast.DropStmt | ast.TruncateStmt | ast.DeleteStmt)
        if destructive and re.search(rf"\b{re.escape(short)}\b", s.text, re.IGNORECASE):
            return s.line
    return line_naming(file, table)
