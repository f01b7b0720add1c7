"""A migration file as PostgreSQL's own parser reads it: statements, their lines, suppressions.

A suppression is a comment directly above a statement (between it and the statement before)::

    -- supatenant: allow lock-index-not-concurrent because the table holds at most 20 rows

It silences the named rules (comma separated) for that statement only. The reason after
``because`` is required: a suppression without one silences nothing and is reported itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pglast import ast, parse_sql
from pglast.parser import ParseError, scan

from supatenant.check.findings import Finding

_ALLOW = re.compile(
    r"^--\s*supatenant:\s*allow\s+(?P<rules>[a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*)"
    r"(?:\s+because\s+(?P<reason>.*\S))?\s*$"
)
_MAYBE_LONG = re.compile(r'"[^"]{64,}"|[^\s"(),;.]{64,}')
_ALLOW_HINT = re.compile(r"^--\s*supatenant:", re.IGNORECASE)


@dataclass(frozen=True)
class Statement:
    """One top-level statement: its tree, 1-based line of its first token, and its source text."""

    node: ast.Node
    line: int
    text: str
    allowed: frozenset[str] = frozenset()


@dataclass
class SqlFile:
    """A parsed SQL file; ``error`` holds the parse failure, if any (then no statements)."""

    path: Path
    rel: str
    statements: list[Statement] = field(default_factory=list)
    error: Finding | None = None
    bad_suppressions: list[Finding] = field(default_factory=list)


def _skip_gap(data: bytes, pos: int, end: int) -> tuple[int, list[tuple[int, bytes]]]:
    """Skip whitespace, comments and the semicolons between statements from ``pos``; return the
    first token's offset and the line comments passed, with their offsets."""
    comments: list[tuple[int, bytes]] = []
    while pos < end:
        c = data[pos : pos + 1]
        if c.isspace() or c == b";":
            pos += 1
        elif data.startswith(b"--", pos):
            nl = data.find(b"\n", pos)
            nl = end if nl < 0 or nl > end else nl
            comments.append((pos, data[pos:nl]))
            pos = nl
        elif data.startswith(b"/*", pos):
            close = data.find(b"*/", pos + 2)
            pos = end if close < 0 else close + 2
        else:
            break
    return pos, comments


def parse_file(path: Path, rel: str) -> SqlFile:
    """Parse ``path`` (shown as ``rel`` in findings)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return parse_text(text, path, rel)


def _parse(text: str) -> tuple[ast.RawStmt, ...]:
    """pglast's parse, several times faster: the nodes libpg_query hands over are valid by
    construction, so the per-attribute validation meant for hand-built trees is skipped while
    they are made (the trees are identical)."""
    checked = ast.Node.__setattr__
    ast.Node.__setattr__ = object.__setattr__  # type: ignore[method-assign,assignment,unused-ignore]
    try:
        return tuple(parse_sql(text))
    finally:
        ast.Node.__setattr__ = checked  # type: ignore[method-assign]


def parse_statements(text: str) -> tuple[ast.Node, ...]:
    """The statements of a piece of SQL; () when it does not parse."""
    try:
        return tuple(raw.stmt for raw in _parse(text) if raw.stmt is not None)
    except ParseError:
        return ()


def parse_text(text: str, path: Path, rel: str) -> SqlFile:
    data = text.encode("utf-8")
    result = SqlFile(path=path, rel=rel)
    try:
        raws = _parse(text)
    except ParseError as e:
        where = e.args[1] if len(e.args) > 1 and isinstance(e.args[1], int) else 1
        line = text[: max(0, where - 1)].count("\n") + 1
        result.error = Finding(
            rule="parse-error",
            severity="error",
            message=f"PostgreSQL cannot parse this file: {e.args[0] if e.args else e}",
            fix="correct the SQL; nothing in this file can be checked until it parses",
            file=rel,
            line=line,
        )
        return result
    previous_end = 0
    for raw in raws:
        # the gap since the previous statement: some parser versions start a statement there,
        # others at its first token
        start = min(raw.stmt_location or 0, previous_end)
        end = (raw.stmt_location or 0) + raw.stmt_len if raw.stmt_len else len(data)
        previous_end = end
        first, comments = _skip_gap(data, start, end)
        allowed: set[str] = set()
        for at, comment in comments:
            line_text = comment.decode("utf-8", "replace").strip()
            if not _ALLOW_HINT.match(line_text):
                continue
            m = _ALLOW.match(line_text)
            cline = data[:at].count(b"\n") + 1
            if m is None or not m.group("reason"):
                result.bad_suppressions.append(
                    Finding(
                        rule="suppression-without-reason",
                        severity="error",
                        message=f"this suppression silences nothing: {line_text!r} has no reason",
                        fix="write it as: -- supatenant: allow RULE[, RULE] because REASON",
                        file=rel,
                        line=cline,
                    )
                )
                continue
            allowed.update(r.strip() for r in m.group("rules").split(","))
        assert raw.stmt is not None
        result.statements.append(
            Statement(
                node=raw.stmt,
                line=data[:first].count(b"\n") + 1,
                text=data[first:end].decode("utf-8", "replace"),
                allowed=frozenset(allowed),
            )
        )
    return result


def long_identifiers(text: str) -> list[str]:
    """Identifiers in ``text`` longer than PostgreSQL's 63 bytes (which the parser truncates)."""
    out: list[str] = []
    if text.isascii() and not _MAYBE_LONG.search(text):  # a quick no, before tokenizing
        return out
    data = text.encode("utf-8")
    try:
        tokens = scan(text)
    except ParseError:
        return out
    for tok in tokens:
        if tok.name != "IDENT":
            continue
        raw = data[tok.start : tok.end + 1]
        if raw.startswith(b'"') and raw.endswith(b'"'):
            raw = raw[1:-1].replace(b'""', b'"')
        if len(raw) > 63:
            out.append(raw.decode("utf-8", "replace"))
    return out
