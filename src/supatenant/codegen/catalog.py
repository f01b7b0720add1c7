"""Read a migrated database's catalog into JSON Schema (``types/schema.json``).

Every table and view of ``public`` becomes three definitions: ``<Name>Row`` (what a read
returns), ``<Name>Insert`` (what an insert accepts: required only where the column is
``not null`` without a default) and ``<Name>Update`` (every writable column, optional).
Functions of ``public`` add ``<Name>Args`` and, when they return rows, ``<Name>Row``.
Only what the catalog states goes in: types, nullability, defaults, ``varchar(n)``
lengths, ``check (x in (...))`` as enums, ``check (x >= n)`` as bounds, comments as
descriptions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import psycopg

JsonSchema = dict[str, Any]

_INT_BOUNDS = {
    "int2": (-(2**15), 2**15 - 1),
    "int4": (-(2**31), 2**31 - 1),
    "int8": (-(2**63), 2**63 - 1),
}


@dataclass
class Column:
    name: str
    type_name: str  # pg_type.typname, e.g. int4, varchar, timestamptz
    max_length: int | None
    nullable: bool
    default: str | None
    generated: bool
    updatable: bool
    comment: str | None
    checks: list[str] = field(default_factory=list)


@dataclass
class Relation:
    name: str
    kind: str  # 'r' table, 'v' view
    comment: str | None
    columns: list[Column]


@dataclass
class Argument:
    name: str
    type_name: str
    has_default: bool


@dataclass
class Function:
    name: str
    comment: str | None
    arguments: list[Argument]
    result_columns: list[Column]  # empty for a scalar, nothing, or a table's own row type


_RELATIONS = """
select c.oid, c.relname, c.relkind, obj_description(c.oid, 'pg_class')
from pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'v')
order by c.relname
"""

_COLUMNS = """
select a.attname,
       t.typname,
       case when a.atttypmod > 0 and t.typname in ('varchar', 'bpchar') then a.atttypmod - 4 end,
       not a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid),
       a.attgenerated <> '',
       coalesce(ic.is_updatable = 'YES', false),
       col_description(a.attrelid, a.attnum)
from pg_attribute a
join pg_type t on t.oid = a.atttypid
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
left join information_schema.columns ic
  on ic.table_schema = 'public' and ic.table_name = %(relname)s and ic.column_name = a.attname
where a.attrelid = %(oid)s and a.attnum > 0 and not a.attisdropped
order by a.attnum
"""

# single-column checks only: a check over several columns says nothing about one field
_CHECKS = """
select a.attname, pg_get_constraintdef(k.oid)
from pg_constraint k
join pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[1]
where k.conrelid = %s and k.contype = 'c' and cardinality(k.conkey) = 1
order by k.conname
"""

_FUNCTIONS = """
select p.oid, p.proname, obj_description(p.oid, 'pg_proc'), p.pronargs, p.pronargdefaults,
       coalesce(p.proargnames, '{}'), coalesce(p.proallargtypes, p.proargtypes::oid[]),
       coalesce(p.proargmodes, '{}'), rt.typrelid
from pg_proc p
join pg_type rt on rt.oid = p.prorettype
where p.pronamespace = 'public'::regnamespace and p.prokind = 'f'
  -- an extension's functions (pg_trgm installed in public) are not the project's
  and not exists (
    select 1 from pg_depend d
    where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
  )
order by p.proname
"""


def _typname(conn: psycopg.Connection[Any], oid: int) -> str:
    row = conn.execute("select typname from pg_type where oid = %s", (oid,)).fetchone()
    assert row is not None
    return str(row[0])


def read_relations(conn: psycopg.Connection[Any]) -> list[Relation]:
    relations = []
    for oid, relname, relkind, comment in conn.execute(_RELATIONS).fetchall():
        columns = [
            Column(name, typ, maxlen, nullable, default, generated, updatable, col_comment)
            for name, typ, maxlen, nullable, default, generated, updatable, col_comment in conn.execute(
                _COLUMNS, {"relname": relname, "oid": oid}
            ).fetchall()
        ]
        by_name = {c.name: c for c in columns}
        for attname, definition in conn.execute(_CHECKS, (oid,)).fetchall():
            by_name[attname].checks.append(definition)
        relations.append(Relation(relname, relkind, comment, columns))
    return relations


def read_functions(conn: psycopg.Connection[Any]) -> list[Function]:
    functions = []
    for row in conn.execute(_FUNCTIONS).fetchall():
        _, name, comment, nargs, ndefaults, argnames, argtypes, argmodes, _relid = row
        modes = argmodes or ["i"] * len(argtypes)
        if len(argnames) != len(argtypes) or "" in argnames:
            continue  # an argument without a name cannot be passed by name through the Data API
        inputs = [(n, t) for n, t, m in zip(argnames, argtypes, modes, strict=True) if m in ("i", "b")]
        first_default = nargs - ndefaults
        arguments = [Argument(n, _typname(conn, t), i >= first_default) for i, (n, t) in enumerate(inputs)]
        outputs = [(n, t) for n, t, m in zip(argnames, argtypes, modes, strict=True) if m in ("o", "b", "t")]
        if outputs:
            result = [Column(n, _typname(conn, t), None, True, None, False, False, None) for n, t in outputs]
        else:
            # a table's row type (relid set) already has its <Table>Row model
            result = []
        functions.append(Function(name, comment, arguments, result))
    return functions


def _base_type(type_name: str) -> JsonSchema:
    if type_name in _INT_BOUNDS:
        low, high = _INT_BOUNDS[type_name]
        return {"type": "integer", "minimum": low, "maximum": high}
    simple: dict[str, JsonSchema] = {
        "uuid": {"type": "string", "format": "uuid"},
        "text": {"type": "string"},
        "varchar": {"type": "string"},
        "bpchar": {"type": "string"},
        "bool": {"type": "boolean"},
        "numeric": {"type": "number", "format": "decimal"},
        "float4": {"type": "number"},
        "float8": {"type": "number"},
        "timestamptz": {"type": "string", "format": "date-time"},
        "timestamp": {"type": "string", "format": "date-time-local"},  # no time zone: naive
        "date": {"type": "string", "format": "date"},
        "interval": {"type": "string", "format": "duration"},
        "jsonb": {},
        "json": {},
    }
    if type_name not in simple:
        raise ValueError(f"no JSON Schema mapping for the PostgreSQL type {type_name!r}")
    return dict(simple[type_name])


_IN_LIST = re.compile(r"= ANY \(\(?ARRAY\[(?P<items>[^\]]*)\]")
_ITEM = re.compile(r"'(?P<text>(?:[^']|'')*)'(?:::[\w ]+)?|(?P<number>-?\d+)")
_BOUND = re.compile(
    r"^CHECK \(\(?\(?\w+\)?(?:::\w+)? (?P<op>>=|>|<=|<) \(?(?P<value>-?\d+(?:\.\d+)?)\)?(?:::\w+)?\)?\)$"
)
_JSONB_KIND = re.compile(r"jsonb_typeof\(\w+\) = '(?P<kind>object|array)'")


def _apply_checks(schema: JsonSchema, checks: list[str]) -> None:
    """Fold the checks that JSON Schema can state into ``schema``; others are left to the database."""
    for check in checks:
        if m := _IN_LIST.search(check):
            values: list[Any] = []
            for item in _ITEM.finditer(m.group("items")):
                text = item.group("text")
                values.append(text.replace("''", "'") if text is not None else int(item.group("number")))
            if schema.get("type") == "integer":
                values = [int(v) for v in values]
                schema.pop("minimum", None)
                schema.pop("maximum", None)
            schema["enum"] = values
            schema.pop("maxLength", None)  # the enum says more
        elif m := _BOUND.match(check):
            value = float(m.group("value")) if "." in m.group("value") else int(m.group("value"))
            key = {">=": "minimum", ">": "exclusiveMinimum", "<=": "maximum", "<": "exclusiveMaximum"}
            schema[key[m.group("op")]] = value
        elif m := _JSONB_KIND.search(check):
            schema["type"] = m.group("kind")


_LITERAL_DEFAULT = re.compile(r"^'(?P<text>(?:[^']|'')*)'::[\w ]+$")


def _default_value(default: str) -> tuple[bool, Any]:
    """(True, value) when the SQL default is a constant JSON can carry, else (False, None)."""
    if default in ("true", "false"):
        return True, default == "true"
    if re.fullmatch(r"-?\d+", default):
        return True, int(default)
    if m := _LITERAL_DEFAULT.match(default):
        text = m.group("text").replace("''", "'")
        if default.endswith("::jsonb"):
            return True, json.loads(text)
        return True, text
    return False, None


def _column_schema(column: Column) -> JsonSchema:
    schema = _base_type(column.type_name)
    if column.max_length is not None:
        schema["maxLength"] = column.max_length
    _apply_checks(schema, column.checks)
    if column.comment:
        schema["description"] = column.comment
    return schema


def _nullable(schema: JsonSchema) -> JsonSchema:
    """``schema`` or null. A type list keeps the constraints on the field itself."""
    if "type" not in schema:  # json/jsonb: any value, null included
        return schema
    nullable = dict(schema)
    nullable["type"] = [schema["type"], "null"]
    if "enum" in schema:
        nullable["enum"] = [*schema["enum"], None]
    return nullable


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _row(columns: list[Column], title: str, description: str | None) -> JsonSchema:
    properties = {}
    for c in columns:
        s = _column_schema(c)
        properties[c.name] = _nullable(s) if c.nullable else s
    schema: JsonSchema = {
        "title": title,
        "type": "object",
        "properties": properties,
        "required": [c.name for c in columns],
        # no additionalProperties: a row read after an additive migration (a new column the
        # app does not know yet) still validates; what the app knows is checked as before
    }
    if description:
        schema["description"] = description
    return schema


def _writable(columns: list[Column], title: str, description: str, insert: bool) -> JsonSchema:
    properties: dict[str, JsonSchema] = {}
    required = []
    for c in columns:
        if c.generated or not c.updatable:
            continue
        s = _column_schema(c)
        if c.nullable:
            s = _nullable(s)
        if insert and not c.nullable and c.default is None:
            required.append(c.name)
        elif insert and c.default is not None:
            # an update has no defaults: a field left unset is left unchanged
            constant, value = _default_value(c.default)
            if constant:
                s["default"] = value
            else:
                s["x-sql-default"] = c.default
        properties[c.name] = s
    return {
        "title": title,
        "description": description,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def build_schema(conn: psycopg.Connection[Any]) -> JsonSchema:
    defs: dict[str, JsonSchema] = {}
    for rel in read_relations(conn):
        base = _camel(rel.name)
        noun = "view" if rel.kind == "v" else "table"
        defs[f"{base}Row"] = _row(
            rel.columns, f"{base}Row", rel.comment or f"A row of the {rel.name} {noun}."
        )
        defs[f"{base}Insert"] = _writable(
            rel.columns, f"{base}Insert", f"What an insert into {rel.name} accepts.", insert=True
        )
        defs[f"{base}Update"] = _writable(
            rel.columns, f"{base}Update", f"What an update of {rel.name} may change.", insert=False
        )
    for fn in read_functions(conn):
        base = _camel(fn.name)
        # an argument with a default may be left out (None): the function's default applies
        args = {
            a.name: _nullable(_base_type(a.type_name)) if a.has_default else _base_type(a.type_name)
            for a in fn.arguments
        }
        defs[f"{base}Args"] = {
            "title": f"{base}Args",
            "description": fn.comment or f"The arguments of {fn.name}().",
            "type": "object",
            "properties": args,
            "required": [a.name for a in fn.arguments if not a.has_default],
            "additionalProperties": False,
        }
        if fn.result_columns:
            defs[f"{base}Result"] = _row(
                fn.result_columns, f"{base}Result", f"A row returned by {fn.name}()."
            )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "supatenant",
        "description": "The public schema of a supatenant database, generated by `supatenant gen`.",
        "$defs": dict(sorted(defs.items())),
    }
