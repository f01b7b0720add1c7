"""References and values: foreign keys, the tenant boundary, checks, types and names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast import ast
from pglast.enums import A_Expr_Kind, AlterTableType, ConstrType, ObjectType

from supatenant.check.model import Model, Relation
from supatenant.check.names import (
    Key,
    TypeRef,
    column_name,
    qualified,
    rel_key,
    show,
    strings,
    type_ref,
    walk,
    walk_outside_sublinks,
)
from supatenant.check.rules import FileReview, Hit, on_file, on_statement, rule
from supatenant.check.sqlfile import Statement, long_identifiers

rule("fk-type-mismatch", "error", "references", "a foreign key column's type differs from its target's")
rule(
    "tenant-reference",
    "error",
    "references",
    "a tenant referenced by a code, or tenant_id without a foreign key",
)
rule(
    "unknown-reference", "error", "references", "a table, column or schema that does not exist at that point"
)
rule("cross-tenant-reference", "error", "references", "a child references a tenant-owned parent by id alone")
rule("tenant-key-type", "error", "references", "a tenant table keyed by a serial, identity or non-uuid id")
rule("check-exceeds-varchar", "error", "references", "a CHECK literal longer than its varchar(n)")
rule("check-narrowed", "error", "references", "a CHECK narrowed so existing rows fail it")
rule("timestamp-without-time-zone", "warning", "references", "a timestamp column without time zone")
rule("quoted-camelcase", "warning", "references", "a quoted identifier with capitals")
rule("name-too-long", "error", "references", "an identifier longer than 63 bytes, stored truncated")

_TENANT_CODE = re.compile(r"^tenant(_(slug|code|key|name|ref|handle|external_id|identifier))?$")
SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_temp", "pg_toast"})


def _judged(m: Model, schema: str) -> bool:
    return schema in m.schemas and schema not in m.opaque_schemas


def _schema_known(m: Model, schema: str) -> bool:
    return schema in m.schemas or schema in m.opaque_schemas or schema in SYSTEM_SCHEMAS


# -- foreign keys ------------------------------------------------------------------------


@dataclass
class FkRef:
    table: Key
    columns: tuple[str, ...]
    types: tuple[TypeRef | None, ...]
    target: Key
    target_columns: tuple[str, ...]


def _statement_fks(m: Model, n: Any) -> Iterator[FkRef]:
    """Foreign keys a create or alter table statement declares, with their columns' types."""
    if isinstance(n, ast.CreateStmt):
        table = rel_key(n.relation)
        cols = {
            c.colname or "": type_ref(c.typeName) for c in n.tableElts or () if isinstance(c, ast.ColumnDef)
        }
        for elt in n.tableElts or ():
            yield from _fks_of(m, table, cols, elt)
    elif isinstance(n, ast.AlterTableStmt):
        table = rel_key(n.relation)
        rel = m.relations.get(table)
        cols = {k: c.type for k, c in rel.columns.items()} if rel else {}
        for cmd in n.cmds or ():
            if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                cols = cols | {cmd.def_.colname or "": type_ref(cmd.def_.typeName)}
                yield from _fks_of(m, table, cols, cmd.def_)
            elif cmd.subtype == AlterTableType.AT_AddConstraint:
                yield from _fks_of(m, table, cols, cmd.def_)


def _fks_of(m: Model, table: Key, cols: dict[str, TypeRef], elt: Any) -> Iterator[FkRef]:
    if isinstance(elt, ast.ColumnDef):
        for c in elt.constraints or ():
            if c.contype == ConstrType.CONSTR_FOREIGN:
                yield _fk(m, table, cols, c, (elt.colname or "",))
    elif isinstance(elt, ast.Constraint) and elt.contype == ConstrType.CONSTR_FOREIGN:
        yield _fk(m, table, cols, elt, tuple(strings(elt.fk_attrs)))


def _fk(m: Model, table: Key, cols: dict[str, TypeRef], c: ast.Constraint, fk_cols: tuple[str, ...]) -> FkRef:
    target = rel_key(c.pktable)
    tcols = tuple(strings(c.pk_attrs))
    if not tcols:
        tcols = m.pk_columns(target) if target != table else ()
    return FkRef(table, fk_cols, tuple(cols.get(x) for x in fk_cols), target, tcols)


@on_statement
def foreign_keys(f: FileReview, s: Statement) -> Iterator[Hit]:
    m = f.model
    for fk in _statement_fks(m, s.node):
        target = m.relations.get(fk.target)
        if target is None:
            if fk.target == fk.table:
                continue
            if _judged(m, fk.target[0]):
                yield Hit(
                    "unknown-reference",
                    f"foreign key on {show(fk.table)} references {show(fk.target)}, which does not "
                    "exist at this point",
                    f"create {show(fk.target)} in an earlier migration, or correct the name",
                )
            elif not _schema_known(m, fk.target[0]):
                yield _no_schema(fk.target[0])
            continue
        for col, tcol in zip(fk.columns, fk.target_columns, strict=False):
            if tcol not in target.columns:
                yield Hit(
                    "unknown-reference",
                    f"foreign key on {show(fk.table)} references column {tcol} of {show(fk.target)}, "
                    "which has no such column",
                    f"reference one of {', '.join(list(target.columns)[:8])}",
                )
                continue
            mine = fk.types[fk.columns.index(col)]
            theirs = target.columns[tcol].type
            if (
                mine is not None
                and theirs.name != "unknown"
                and (mine.name, mine.array) != (theirs.name, theirs.array)
            ):
                yield Hit(
                    "fk-type-mismatch",
                    f"{show(fk.table)}.{col} is {mine} but references {show(fk.target)}.{tcol}, "
                    f"which is {theirs}",
                    f"declare {col} as {theirs}",
                )
        yield from _cross_tenant(m, fk, target)


def _cross_tenant(m: Model, fk: FkRef, target: Relation) -> Iterator[Hit]:
    if fk.target == fk.table or "tenant_id" not in target.columns or "tenant_id" in fk.columns:
        return
    child = m.relations.get(fk.table)
    child_cols = set(child.columns) if child else set()
    if child is None or "tenant_id" in child_cols or fk.table not in m.relations:
        yield Hit(
            "cross-tenant-reference",
            f"{show(fk.table)} references {show(fk.target)} by ({', '.join(fk.columns)}) alone: a row "
            "can point at another tenant's parent",
            f"reference ({', '.join(('tenant_id', *fk.target_columns))}) with a composite foreign key "
            f"on (tenant_id, {', '.join(fk.columns)})",
        )


def _no_schema(schema: str) -> Hit:
    return Hit(
        "unknown-reference",
        f"schema {schema} does not exist at this point",
        f"create schema {schema} in an earlier migration, or correct the name",
    )


# -- other references ---------------------------------------------------------------------


def _missing_relation(f: FileReview, key: Key, what: str, qualified: bool = True) -> Iterator[Hit]:
    m = f.model
    if key in m.relations or m.unseen(key[1]):
        return
    if not qualified and (key[1].startswith("pg_") or "public" in m.extensions.values()):
        return  # found on the search path: the catalog, or an extension's objects in public
    if _judged(m, key[0]):
        yield Hit(
            "unknown-reference",
            f"{what} {show(key)}, which does not exist at this point",
            f"create {show(key)} in an earlier statement or migration, or correct the name",
        )
    elif not _schema_known(m, key[0]):
        yield _no_schema(key[0])


def _ctes(query: Any) -> set[str]:
    names: set[str] = set()
    for n in walk(query):
        if isinstance(n, ast.CommonTableExpr) and n.ctename:
            names.add(n.ctename)
    return names


def _read_relations(node: Any) -> Iterator[ast.RangeVar]:
    ctes = _ctes(node)
    for n in walk(node):
        if isinstance(n, ast.RangeVar) and not (n.schemaname is None and n.relname in ctes):
            yield n


@on_statement
def references(f: FileReview, s: Statement) -> Iterator[Hit]:
    n = s.node
    m = f.model
    if isinstance(n, ast.CreateStmt):
        key = rel_key(n.relation)
        if not _schema_known(m, key[0]):
            yield _no_schema(key[0])
    elif isinstance(n, ast.IndexStmt):
        key = rel_key(n.relation)
        yield from _missing_relation(f, key, "index on")
        rel = m.relations.get(key)
        if rel is not None:
            for e in n.indexParams or ():
                if (
                    isinstance(e, ast.IndexElem)
                    and e.name
                    and e.name not in rel.columns
                    and rel.kind == "table"
                ):
                    yield Hit(
                        "unknown-reference",
                        f"index on {show(key)} names column {e.name}, which it does not have",
                        "correct the column name",
                    )
    elif isinstance(n, ast.AlterTableStmt) and not n.missing_ok and n.objtype == ObjectType.OBJECT_TABLE:
        key = rel_key(n.relation)
        yield from _missing_relation(f, key, "alter table of")
        rel = m.relations.get(key)
        if rel is not None:
            for cmd in n.cmds or ():
                if (
                    cmd.name
                    and not cmd.missing_ok
                    and cmd.subtype in _COLUMN_CMDS
                    and cmd.name not in rel.columns
                ):
                    yield Hit(
                        "unknown-reference",
                        f"{show(key)} has no column {cmd.name} at this point",
                        "correct the column name",
                    )
    elif isinstance(n, ast.CreatePolicyStmt):
        yield from _missing_relation(f, rel_key(n.table), "policy on")
        yield from _policy_columns(f, n)
        for rv in _read_relations((n.qual, n.with_check)):
            yield from _missing_relation(f, rel_key(rv), "policy reads", rv.schemaname is not None)
    elif isinstance(n, ast.CreateTrigStmt):
        yield from _missing_relation(f, rel_key(n.relation), "trigger on")
        fkey = qualified(n.funcname)
        bare = len(strings(n.funcname)) == 1
        on_path = bare and "public" in m.extensions.values()
        if _judged(m, fkey[0]) and not m.functions_named(fkey) and not on_path and not m.unseen(fkey[1]):
            yield Hit(
                "unknown-reference",
                f"trigger {n.trigname} executes {show(fkey)}(), which does not exist at this point",
                "create the function before the trigger",
            )
    elif isinstance(n, (ast.ViewStmt, ast.CreateTableAsStmt)):
        for rv in _read_relations(n.query):
            yield from _missing_relation(f, rel_key(rv), "reads", rv.schemaname is not None)


def _policy_columns(f: FileReview, n: ast.CreatePolicyStmt) -> Iterator[Hit]:
    key = rel_key(n.table)
    rel = f.model.relations.get(key)
    if rel is None or rel.kind != "table":
        return
    missing: list[str] = []
    for x in walk_outside_sublinks((n.qual, n.with_check)):
        ref = column_name(x)
        if ref and ref[0] in (None, key[1]) and ref[1] not in rel.columns and ref[1] not in missing:
            missing.append(ref[1])
    for col in missing:
        yield Hit(
            "unknown-reference",
            f'policy "{n.policy_name}" on {show(key)} tests {col}, which {show(key)} does not have',
            "correct the column name",
        )


_COLUMN_CMDS = frozenset(
    {
        AlterTableType.AT_AlterColumnType,
        AlterTableType.AT_SetNotNull,
        AlterTableType.AT_DropNotNull,
        AlterTableType.AT_ColumnDefault,
        AlterTableType.AT_DropColumn,
    }
)


# -- tenant tables, at the end of the file that creates or alters them ------------------------


def tenants_table(m: Model) -> Key | None:
    for rel in m.relations.values():
        for fk in rel.fks.values():
            if fk.columns == ("tenant_id",):
                return fk.target
    return ("public", "tenants") if ("public", "tenants") in m.relations else None


@on_file
def tenant_tables(f: FileReview) -> Iterator[Hit]:
    m = f.model
    tenants = tenants_table(m)
    for key, line in f.touched.items():
        rel = m.relations.get(key)
        if rel is None or rel.kind != "table" or key == tenants:
            continue
        for col in rel.columns.values():
            if _TENANT_CODE.match(col.name) and col.type.name != "uuid":
                yield Hit(
                    "tenant-reference",
                    f"{show(key)}.{col.name} names a tenant by a {col.type} code: nothing stops it naming "
                    "a tenant that does not exist, and renaming the code breaks every row",
                    "store tenant_id uuid with a foreign key to the tenants table",
                    line,
                )
        tid = rel.columns.get("tenant_id")
        if tid is None:
            continue
        if not any("tenant_id" in fk.columns for fk in rel.fks.values()):
            yield Hit(
                "tenant-reference",
                f"{show(key)}.tenant_id has no foreign key: rows can name tenants that do not exist "
                "and outlive their tenant",
                f"add foreign key (tenant_id) references {show(tenants) if tenants else 'the tenants table'}",
                line,
            )
        if tid.type.name != "uuid":
            yield Hit(
                "tenant-key-type",
                f"{show(key)}.tenant_id is {tid.type}, not uuid",
                "declare tenant_id uuid",
                line,
            )
        for name in rel.pk:
            key_col = rel.columns.get(name)
            if key_col is None or not (name == "id" or name.endswith("_id")):
                continue
            if key_col.type.serial or key_col.identity or key_col.type.name != "uuid":
                t = key_col.type
                kind = "serial" if t.serial else "identity" if key_col.identity else str(t)
                yield Hit(
                    "tenant-key-type",
                    f"{show(key)}.{name} is a {kind} key on a tenant table: ids are guessable and "
                    "tell other tenants how many rows exist",
                    f"declare {name} uuid default gen_random_uuid()",
                    line,
                )


# -- checks ---------------------------------------------------------------------------------


def in_list(expr: Any) -> tuple[str, set[str]] | None:
    """(column, values) of ``col in ('a', 'b')`` or ``col = any (array[...])`` in a check."""
    for n in walk(expr):
        if not isinstance(n, ast.A_Expr):
            continue
        col = n.lexpr
        if isinstance(col, ast.TypeCast):
            col = col.arg
        if not isinstance(col, ast.ColumnRef):
            continue
        name = strings(col.fields)[-1]
        if n.kind == A_Expr_Kind.AEXPR_IN or n.kind == A_Expr_Kind.AEXPR_OP_ANY:
            from supatenant.check.names import string_consts

            values = string_consts(n.rexpr)
            if values:
                return (name, set(values))
    return None


def _literals(expr: Any) -> Iterator[tuple[str, str]]:
    """(column, literal) pairs compared in a check: ``=``, ``in`` and ``= any``."""
    from supatenant.check.names import string_consts

    for n in walk(expr):
        if not isinstance(n, ast.A_Expr):
            continue
        col = n.lexpr.arg if isinstance(n.lexpr, ast.TypeCast) else n.lexpr
        if not isinstance(col, ast.ColumnRef):
            continue
        ops = strings(n.name)
        if n.kind in (A_Expr_Kind.AEXPR_IN, A_Expr_Kind.AEXPR_OP_ANY) or ops == ["="]:
            for v in string_consts(n.rexpr):
                yield (strings(col.fields)[-1], v)


def _statement_checks(m: Model, n: Any) -> Iterator[tuple[Key, dict[str, TypeRef], Any, str | None]]:
    """(table, column types, check expression, constraint name) of the checks a statement adds."""
    if isinstance(n, ast.CreateStmt):
        key = rel_key(n.relation)
        cols = {
            c.colname or "": type_ref(c.typeName) for c in n.tableElts or () if isinstance(c, ast.ColumnDef)
        }
        elts: list[Any] = list(n.tableElts or ())
    elif isinstance(n, ast.AlterTableStmt):
        key = rel_key(n.relation)
        rel = m.relations.get(key)
        cols = {k: c.type for k, c in rel.columns.items()} if rel else {}
        elts = []
        for cmd in n.cmds or ():
            if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                cols[cmd.def_.colname or ""] = type_ref(cmd.def_.typeName)
                elts.append(cmd.def_)
            elif cmd.subtype == AlterTableType.AT_AddConstraint:
                elts.append(cmd.def_)
    else:
        return
    for elt in elts:
        cons = elt.constraints if isinstance(elt, ast.ColumnDef) else [elt]
        for c in cons or ():
            if isinstance(c, ast.Constraint) and c.contype == ConstrType.CONSTR_CHECK:
                yield (key, cols, c.raw_expr, c.conname)


@on_statement
def checks(f: FileReview, s: Statement) -> Iterator[Hit]:
    for key, cols, expr, _name in _statement_checks(f.model, s.node):
        for col, literal in _literals(expr):
            t = cols.get(col)
            if t is not None and t.name in ("varchar", "bpchar") and t.mods and len(literal) > t.mods[0]:
                yield Hit(
                    "check-exceeds-varchar",
                    f"the check on {show(key)} allows {col} = '{literal}' ({len(literal)} characters) but "
                    f"{col} is {t}: that value can never be stored",
                    f"widen {col} to varchar({len(literal)}) or shorten the value",
                )
        if isinstance(s.node, ast.AlterTableStmt) and key in f.existing:
            narrowed = narrowing(f, key, expr)
            if narrowed:
                col, lost = narrowed
                yield Hit(
                    "check-narrowed",
                    f"the new check on {show(key)}.{col} no longer allows "
                    f"{', '.join(repr(v) for v in sorted(lost))}: existing rows holding them make it "
                    "fail (or, not valid, make their next update fail)",
                    "migrate those rows first (in batches), then narrow the check; or keep them allowed",
                )


def old_lists(f: FileReview, key: Key) -> list[tuple[str, set[str]]]:
    """The value lists the table's checks allowed before this file (and earlier in it)."""
    out = []
    for chk in list(f.start_checks.get(key, {}).values()) + list(
        f.model.relations[key].checks.values() if key in f.model.relations else []
    ):
        lst = in_list(chk.expr)
        if lst:
            out.append(lst)
    return out


def narrowing(f: FileReview, key: Key, expr: Any) -> tuple[str, set[str]] | None:
    new = in_list(expr)
    if new is None:
        return None
    for col, values in old_lists(f, key):
        if col == new[0] and not values <= new[1]:
            return (col, values - new[1])
    return None


def widening(f: FileReview, key: Key, expr: Any) -> bool:
    new = in_list(expr)
    if new is None:
        return False
    return any(col == new[0] and values <= new[1] for col, values in old_lists(f, key))


# -- names ----------------------------------------------------------------------------------


def _created_names(n: Any) -> Iterator[tuple[str, str]]:
    """(kind, name) of each identifier a statement creates."""
    if isinstance(n, ast.CreateStmt):
        yield ("table", rel_key(n.relation)[1])
        for c in n.tableElts or ():
            if isinstance(c, ast.ColumnDef):
                yield ("column", c.colname or "")
    elif isinstance(n, ast.ViewStmt):
        yield ("view", rel_key(n.view)[1])
    elif isinstance(n, ast.CreateTableAsStmt) and n.into is not None:
        yield (
            "materialized view" if n.objtype == ObjectType.OBJECT_MATVIEW else "table",
            rel_key(n.into.rel)[1],
        )
    elif isinstance(n, ast.IndexStmt) and n.idxname:
        yield ("index", n.idxname)
    elif isinstance(n, ast.CreateFunctionStmt):
        yield ("function", strings(n.funcname)[-1])
    elif isinstance(n, ast.CreateSchemaStmt) and n.schemaname:
        yield ("schema", n.schemaname)
    elif isinstance(n, ast.AlterTableStmt):
        for cmd in n.cmds or ():
            if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                yield ("column", cmd.def_.colname or "")
    elif isinstance(n, ast.RenameStmt) and n.renameType != ObjectType.OBJECT_POLICY and n.newname:
        yield ("name", n.newname)


@on_statement
def identifiers(f: FileReview, s: Statement) -> Iterator[Hit]:
    n = s.node
    for kind, name in _created_names(n):
        if name != name.lower():
            yield Hit(
                "quoted-camelcase",
                f'{kind} "{name}" is a quoted identifier with capitals: every query must quote it exactly',
                f"name it {_snake(name)}",
            )
    if isinstance(n, _NAMING) or (isinstance(n, ast.RenameStmt) and n.renameType != ObjectType.OBJECT_POLICY):
        for name in long_identifiers(s.text):
            yield Hit(
                "name-too-long",
                f"{name!r} is {len(name.encode())} bytes; PostgreSQL keeps only the first 63, so the "
                "catalog never shows the name the files use (and two such names can collide)",
                "shorten it to at most 63 bytes",
            )
    if isinstance(n, (ast.CreateStmt, ast.AlterTableStmt)):
        for kind, col, t in _typed_columns(n):
            if t.name == "timestamp":
                yield Hit(
                    "timestamp-without-time-zone",
                    f"{kind} {col} is timestamp without time zone: its values mean different instants "
                    "depending on the session's time zone",
                    f"declare {col} timestamptz",
                )


_NAMING = (
    ast.CreateStmt,
    ast.AlterTableStmt,
    ast.IndexStmt,
    ast.ViewStmt,
    ast.CreateTableAsStmt,
    ast.CreateFunctionStmt,
    ast.CreateSchemaStmt,
    ast.CreateTrigStmt,
)


def _typed_columns(n: Any) -> Iterator[tuple[str, str, TypeRef]]:
    if isinstance(n, ast.CreateStmt):
        for c in n.tableElts or ():
            if isinstance(c, ast.ColumnDef):
                yield ("column", c.colname or "", type_ref(c.typeName))
    else:
        for cmd in n.cmds or ():
            if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                yield ("column", cmd.def_.colname or "", type_ref(cmd.def_.typeName))
            elif cmd.subtype == AlterTableType.AT_AlterColumnType and isinstance(cmd.def_, ast.ColumnDef):
                yield ("column", cmd.name, type_ref(cmd.def_.typeName))


def _snake(name: str) -> str:
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out += "_"
        out += ch.lower()
    return out


def surviving_policies(m: Model) -> Iterator[tuple[str, int, str, Key]]:
    """(file, line, stored name, table) of every policy left after all the files."""
    for rel in m.relations.values():
        for pol in rel.policies.values():
            if len(pol.name.encode()) >= 63:
                yield (pol.file, pol.line, pol.name, rel.key)
