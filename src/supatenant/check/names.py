"""Reading names, types and expressions out of pglast's trees."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast import ast

Key = tuple[str, str]
"""(schema, name) of a relation, index or other schema object."""

_ALIASES = {
    "int": "int4",
    "integer": "int4",
    "smallint": "int2",
    "bigint": "int8",
    "serial": "int4",
    "serial4": "int4",
    "bigserial": "int8",
    "serial8": "int8",
    "smallserial": "int2",
    "serial2": "int2",
    "boolean": "bool",
    "character varying": "varchar",
    "character": "bpchar",
    "char": "bpchar",
    "real": "float4",
    "double precision": "float8",
    "float": "float8",
    "decimal": "numeric",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "time without time zone": "time",
    "time with time zone": "timetz",
}
SERIALS = frozenset({"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"})


@dataclass(frozen=True)
class TypeRef:
    """A column or argument type, normalised: ``int`` and ``integer`` are both ``int4``."""

    name: str
    mods: tuple[int, ...] = ()
    array: bool = False
    written: str = ""

    def __str__(self) -> str:
        mods = f"({', '.join(map(str, self.mods))})" if self.mods else ""
        return f"{self.written or self.name}{mods}{'[]' if self.array else ''}"

    @property
    def serial(self) -> bool:
        return self.written in SERIALS


def strings(nodes: Any) -> list[str]:
    """The values of a list of String nodes (names)."""
    out: list[str] = []
    for n in nodes or ():
        if isinstance(n, ast.String):
            out.append(n.sval or "")
        elif isinstance(n, ast.A_Star):
            out.append("*")
    return out


def type_ref(tn: ast.TypeName | None) -> TypeRef:
    if tn is None:
        return TypeRef("unknown")
    parts = [p for p in strings(tn.names) if p != "pg_catalog"]
    if len(parts) == 2 and parts[0] == "public":  # found on the search path either way
        parts = parts[1:]
    written = ".".join(parts).lower()
    name = _ALIASES.get(written, written)
    mods: list[int] = []
    for m in tn.typmods or ():
        if isinstance(m, ast.A_Const) and isinstance(m.val, ast.Integer):
            mods.append(int(m.val.ival or 0))
    if name == "timestamp" and parts and parts[-1] == "timestamptz":
        name = "timestamptz"
    return TypeRef(name=name, mods=tuple(mods), array=bool(tn.arrayBounds), written=written)


def rel_key(rv: ast.RangeVar | None) -> Key:
    assert rv is not None
    return (rv.schemaname or "public", rv.relname or "")


def show(key: Key) -> str:
    return f"{key[0]}.{key[1]}"


def qualified(names: Any) -> Key:
    """(schema, name) from a list of String nodes such as a function's or a dropped object's name."""
    return qualified_parts(strings(names))


def qualified_parts(parts: list[str]) -> Key:
    if len(parts) >= 3:
        parts = parts[-2:]
    if len(parts) == 2:
        return (parts[0], parts[1])
    return ("public", parts[0] if parts else "")


_CHILDREN: dict[type, tuple[str, ...]] = {}


def _children(cls: type) -> tuple[str, ...]:
    """The attributes of a node class that may hold nodes (pointers, not names or numbers)."""
    attrs = _CHILDREN.get(cls)
    if attrs is None:
        slots: dict[str, Any] = getattr(cls, "__slots__", {})
        attrs = tuple(k for k, v in slots.items() if v.c_type.endswith("*") and v.c_type != "char*")
        _CHILDREN[cls] = attrs
    return attrs


def walk(node: Any) -> Iterator[Any]:
    """Every node under ``node`` (itself included), depth first."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n is None:
            continue
        if isinstance(n, (tuple, list)):
            stack.extend(reversed(n))
            continue
        if not isinstance(n, ast.Node):
            continue
        yield n
        for attr in _children(type(n)):
            v = getattr(n, attr)
            if v is not None:
                stack.append(v)


def walk_outside_sublinks(node: Any) -> Iterator[Any]:
    """Like :func:`walk`, but does not enter sub-selects (``(select ...)``, ``exists``, ``in``)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n is None:
            continue
        if isinstance(n, (tuple, list)):
            stack.extend(reversed(n))
            continue
        if not isinstance(n, ast.Node):
            continue
        yield n
        if isinstance(n, ast.SubLink):
            stack.append(n.testexpr)
            continue
        for attr in _children(type(n)):
            v = getattr(n, attr)
            if v is not None:
                stack.append(v)


def column_name(node: Any) -> tuple[str | None, str] | None:
    """(qualifier, column) of a plain column reference, else None."""
    if isinstance(node, ast.ColumnRef):
        parts = strings(node.fields)
        if parts and parts[-1] != "*":
            return (parts[-2] if len(parts) >= 2 else None, parts[-1])
    return None


def func_name(node: ast.FuncCall) -> Key:
    parts = strings(node.funcname)
    if len(parts) >= 2:
        return (parts[-2], parts[-1])
    return ("", parts[0] if parts else "")


def string_consts(node: Any) -> list[str]:
    """String literals directly in ``node``: a constant, a cast of one, or a list of them."""
    out: list[str] = []
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        out.append(node.val.sval or "")
    elif isinstance(node, ast.TypeCast):
        out.extend(string_consts(node.arg))
    elif isinstance(node, (tuple, list)):
        for n in node:
            out.extend(string_consts(n))
    elif isinstance(node, ast.A_ArrayExpr):
        out.extend(string_consts(node.elements))
    return out


def defelem_value(node: Any) -> Any:
    """The plain Python value of a DefElem's argument."""
    if isinstance(node, ast.String):
        return node.sval
    if isinstance(node, ast.Integer):
        return node.ival
    if isinstance(node, ast.Boolean):
        return node.boolval
    if isinstance(node, ast.TypeName):
        return ".".join(strings(node.names))
    if isinstance(node, (tuple, list)):
        return [defelem_value(n) for n in node]
    return node
