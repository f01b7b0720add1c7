"""The SQL inside function bodies, read by the same parser (PL/pgSQL through its own)."""

from __future__ import annotations

import functools
import json
from typing import Any

from pglast import ast
from pglast.parser import ParseError, parse_plpgsql_json

from supatenant.check.sqlfile import parse_statements


@functools.lru_cache(maxsize=1024)
def body_statements(language: str, body: str, statement: str) -> tuple[ast.Node, ...]:
    """The statements a ``sql`` or ``plpgsql`` body runs (``statement``: the whole create
    function, which PL/pgSQL's parser reads); () for other languages or unreadable bodies.
    Assignments and conditions that are not statements are left out."""
    if language == "sql":
        return parse_statements(body)
    if language != "plpgsql":
        return ()
    try:
        tree = json.loads(parse_plpgsql_json(statement))
    except (ParseError, ValueError):
        return ()
    out: list[ast.Node] = []
    stack: list[Any] = [tree]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            q = x.get("query")
            if isinstance(q, str):
                out.extend(parse_statements(q))
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return tuple(out)


def options(node: ast.CreateFunctionStmt) -> tuple[str, str]:
    """(language, body) of a create function statement."""
    language, body = "sql", ""
    for o in node.options or ():
        if not isinstance(o, ast.DefElem):
            continue
        if o.defname == "language" and isinstance(o.arg, ast.String):
            language = (o.arg.sval or "sql").lower()
        elif o.defname == "as":
            parts = o.arg if isinstance(o.arg, (list, tuple)) else [o.arg]
            if parts and isinstance(parts[0], ast.String):
                body = parts[0].sval or ""
    return language, body
