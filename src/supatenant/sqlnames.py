"""The names a SQL script creates, read with PostgreSQL's own parser (pglast).

Tables, views, materialized views, indexes and sequences share a schema's relation
namespace; functions and types have their own. Unqualified names are in ``public`` (what
the Supabase CLI's search path makes of them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pglast import ast, parse_sql
from pglast.parser import ParseError

from supatenant.errors import SetupError


@dataclass(frozen=True, order=True)
class Name:
    kind: str  # "relation", "function" or "type"
    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.schema}.{self.name}"


class UnreadableSql(SetupError):
    """A SQL file that PostgreSQL's parser rejects."""


def _qualified(parts: Iterable[object] | None) -> tuple[str, str]:
    names = [p.sval or "" for p in parts or () if isinstance(p, ast.String)]
    return (names[-2] if len(names) > 1 else "public", names[-1])


def _relation(kind: str, rel: ast.RangeVar | None) -> Name | None:
    if rel is None or rel.relname is None:
        return None
    return Name(kind, rel.schemaname or "public", rel.relname)


def _created(stmt: ast.Node) -> Name | None:
    match stmt:
        case ast.CreateStmt(relation=rel) | ast.ViewStmt(view=rel) | ast.CreateSeqStmt(sequence=rel):
            return _relation("relation", rel)
        case ast.CreateTableAsStmt(into=into) if into is not None:
            return _relation("relation", into.rel)
        case ast.IndexStmt(idxname=str(index), relation=rel) if rel is not None:
            return Name("relation", rel.schemaname or "public", index)
        case ast.CreateFunctionStmt(funcname=parts):
            return Name("function", *_qualified(parts))
        case ast.CreateEnumStmt(typeName=parts) | ast.CreateRangeStmt(typeName=parts):
            return Name("type", *_qualified(parts))
        case ast.CompositeTypeStmt(typevar=rel):
            return _relation("type", rel)
        case ast.CreateDomainStmt(domainname=parts):
            return Name("type", *_qualified(parts))
    return None


def created_names(sql: str, source: str) -> set[Name]:
    """Every table, view, index, sequence, function and type that ``sql`` creates."""
    try:
        statements = parse_sql(sql)
    except ParseError as e:
        raise UnreadableSql(f"{source} is not SQL that PostgreSQL's parser reads: {e}") from e
    found = (_created(raw.stmt) for raw in statements if raw.stmt is not None)
    return {name for name in found if name is not None}
