"""Locks and rewrites: statements that block or rewrite a table that already holds rows.

"Existing" means the table existed before the file under review: its rows are there when
the statement runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType

from supatenant.check.model import Model, index_columns
from supatenant.check.names import Key, TypeRef, func_name, rel_key, show, strings, type_ref, walk
from supatenant.check.rules import FileReview, Hit, on_statement, rule
from supatenant.check.rules.references import widening
from supatenant.check.sqlfile import Statement

rule(
    "not-null-without-default",
    "error",
    "locks",
    "a not null column without default added to an existing table",
)
rule("index-not-concurrent", "warning", "locks", "an index built without concurrently on an existing table")
rule("rewriting-type-change", "error", "locks", "a type change that rewrites an existing table")
rule("rename", "warning", "locks", "a column or table renamed under its clients")
rule("volatile-default", "error", "locks", "a column with a volatile default added to an existing table")
rule("constraint-not-valid", "warning", "locks", "a constraint added to an existing table without not valid")
rule("set-not-null-unvalidated", "warning", "locks", "set not null without a validated check")
rule("redundant-index", "warning", "locks", "an index another index already serves")
rule("drop-column", "warning", "locks", "a column dropped")

VOLATILE = frozenset(
    {
        "random",
        "gen_random_uuid",
        "uuid_generate_v4",
        "uuid_generate_v1",
        "clock_timestamp",
        "timeofday",
        "nextval",
    }
)


def _existing(f: FileReview, key: Key) -> bool:
    return key in f.existing and key in f.model.relations


@on_statement
def alter_table(f: FileReview, s: Statement) -> Iterator[Hit]:
    n = s.node
    if not isinstance(n, ast.AlterTableStmt) or n.objtype != ObjectType.OBJECT_TABLE:
        return
    key = rel_key(n.relation)
    if not _existing(f, key):
        return
    rel = f.model.relations[key]
    for cmd in n.cmds or ():
        t = cmd.subtype
        if t == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
            yield from _add_column(f, key, cmd.def_)
        elif t == AlterTableType.AT_AlterColumnType and isinstance(cmd.def_, ast.ColumnDef):
            col = rel.columns.get(cmd.name)
            new = type_ref(cmd.def_.typeName)
            if col is not None and (cmd.def_.raw_default is not None or not _binary_coercible(col.type, new)):
                yield Hit(
                    "rewriting-type-change",
                    f"{show(key)}.{cmd.name} from {col.type} to {new} rewrites the whole table under an "
                    "access exclusive lock: no reads or writes until it finishes",
                    "add a new column, backfill it in batches, switch readers, then drop the old one",
                )
        elif t == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
            yield from _add_constraint(f, key, cmd.def_)
        elif t == AlterTableType.AT_SetNotNull:
            if not _validated_not_null(f.model, key, cmd.name):
                yield Hit(
                    "set-not-null-unvalidated",
                    f"set not null on {show(key)}.{cmd.name} scans the whole table under an access "
                    "exclusive lock",
                    f"first add check ({cmd.name} is not null) not valid and validate it (separate "
                    "statements); set not null then skips the scan",
                )
        elif t == AlterTableType.AT_DropColumn:
            yield Hit(
                "drop-column",
                f"dropping {show(key)}.{cmd.name}: clients still selecting it fail at once, "
                "and its data is gone",
                "stop every client reading it first (expand/contract), then suppress this with the reason",
            )


def _add_column(f: FileReview, key: Key, cd: ast.ColumnDef) -> Iterator[Hit]:
    t = type_ref(cd.typeName)
    kinds = {c.contype for c in cd.constraints or ()}
    default = next((c.raw_expr for c in cd.constraints or () if c.contype == ConstrType.CONSTR_DEFAULT), None)
    generated = ConstrType.CONSTR_IDENTITY in kinds or ConstrType.CONSTR_GENERATED in kinds or t.serial
    required = ConstrType.CONSTR_NOTNULL in kinds or ConstrType.CONSTR_PRIMARY in kinds
    if required and default is None and not generated:
        yield Hit(
            "not-null-without-default",
            f"{show(key)}.{cd.colname} is added not null without a default: it fails as soon as "
            "the table has a row",
            "add it nullable, backfill it, then set not null; or give it a default",
        )
    volatile = _volatile_call(f.model, default) if default is not None else None
    if volatile or t.serial or ConstrType.CONSTR_IDENTITY in kinds or ConstrType.CONSTR_GENERATED in kinds:
        what = f"default {volatile}()" if volatile else "a generated value"
        yield Hit(
            "volatile-default",
            f"{show(key)}.{cd.colname} with {what} rewrites the whole table under an access exclusive lock "
            "(a volatile value must be computed for every row)",
            "add the column without a default, set the default in a separate statement, backfill in batches",
        )


def _volatile_call(m: Model, expr: Any) -> str | None:
    for n in walk(expr):
        if isinstance(n, ast.FuncCall):
            schema, name = func_name(n)
            if name in VOLATILE and schema in ("", "pg_catalog", "public", "extensions"):
                return name
            fns = m.functions_named((schema or "public", name))
            if fns and all(fn.volatility == "volatile" for fn in fns):
                return name
    return None


def _binary_coercible(old: TypeRef, new: TypeRef) -> bool:
    if old.array != new.array:
        return False
    if old.name == new.name:
        if old.name in ("varchar", "bpchar", "varbit"):
            return not new.mods or (bool(old.mods) and new.mods[0] >= old.mods[0])
        if old.name == "numeric":
            if not new.mods:
                return True
            if not old.mods:
                return False
            old_scale = old.mods[1] if len(old.mods) > 1 else 0
            new_scale = new.mods[1] if len(new.mods) > 1 else 0
            return new.mods[0] >= old.mods[0] and new_scale == old_scale
        return old.mods == new.mods or not new.mods
    return (old.name, new.name) in {
        ("varchar", "text"),
        ("bpchar", "text"),
        ("cidr", "inet"),
        ("xml", "text"),
    }


def _add_constraint(f: FileReview, key: Key, c: ast.Constraint) -> Iterator[Hit]:
    if c.contype in (ConstrType.CONSTR_CHECK, ConstrType.CONSTR_FOREIGN):
        if c.skip_validation:
            return
        if c.contype == ConstrType.CONSTR_CHECK and widening(f, key, c.raw_expr):
            return
        kind = "check" if c.contype == ConstrType.CONSTR_CHECK else "foreign key"
        yield Hit(
            "constraint-not-valid",
            f"adding a {kind} to {show(key)} checks every row while holding a lock that blocks writes",
            "add it `not valid`, then `validate constraint` in a later statement (validation locks lightly)",
        )
    elif c.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_EXCLUSION):
        if c.indexname:
            return
        yield Hit(
            "constraint-not-valid",
            f"adding a primary key/unique constraint to {show(key)} builds its index under an "
            "access exclusive lock",
            "create the unique index concurrently (its own file), then add the constraint `using index`",
        )


def _validated_not_null(m: Model, key: Key, column: str) -> bool:
    rel = m.relations.get(key)
    if rel is None:
        return False
    for chk in rel.checks.values():
        if not chk.validated:
            continue
        for n in walk(chk.expr):
            if (
                isinstance(n, ast.NullTest)
                and isinstance(n.arg, ast.ColumnRef)
                and strings(n.arg.fields)[-1] == column
                and n.nulltesttype is not None
                and n.nulltesttype.name == "IS_NOT_NULL"
            ):
                return True
    return False


@on_statement
def indexes(f: FileReview, s: Statement) -> Iterator[Hit]:
    n = s.node
    if not isinstance(n, ast.IndexStmt):
        return
    key = rel_key(n.relation)
    skipped = bool(n.if_not_exists and n.idxname and (key[0], n.idxname) in f.model.indexes)
    if not n.concurrent and _existing(f, key) and not skipped:
        yield Hit(
            "index-not-concurrent",
            f"building an index on the existing {f.model.relations[key].kind} {show(key)} without "
            "concurrently blocks every write to it until the build ends",
            "create index concurrently, alone in a migration file of its own",
        )
    cols = index_columns(n)
    if n.whereClause is not None or not cols or None in cols:
        return
    method = n.accessMethod or "btree"
    for other in f.model.table_indexes(key):
        if other.partial or other.method != method or None in other.columns or other.key[1] == n.idxname:
            continue
        if len(other.columns) >= len(cols) and other.columns[: len(cols)] == cols:
            if n.unique and not (other.unique and other.columns == cols):
                continue
            yield Hit(
                "redundant-index",
                f"index ({', '.join(c for c in cols if c)}) on {show(key)} repeats what {other.key[1]} "
                f"({', '.join(c for c in other.columns if c)}) already serves; it only slows writes",
                f"drop this index and let {other.key[1]} serve it",
            )
            return


@on_statement
def renames(f: FileReview, s: Statement) -> Iterator[Hit]:
    n = s.node
    if not isinstance(n, ast.RenameStmt):
        return
    if n.renameType == ObjectType.OBJECT_COLUMN:
        key = rel_key(n.relation)
        if _existing(f, key):
            yield Hit(
                "rename",
                f"renaming {show(key)}.{n.subname} to {n.newname}: every client still using the old "
                "name fails at once",
                "expand/contract: add the new column, write both, move clients, then drop the old one",
            )
    elif n.renameType in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW):
        key = rel_key(n.relation)
        if _existing(f, key):
            yield Hit(
                "rename",
                f"renaming {show(key)} to {n.newname}: every client still using the old name fails at once",
                "create the new name as a view over the old (or the reverse) until every client moved",
            )
