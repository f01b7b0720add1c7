"""How a file runs: transactions, re-runs, destructive shortcuts and data in migrations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import DropBehavior, ObjectType

from supatenant.check.model import Model, arg_types, index_columns
from supatenant.check.names import Key, qualified, qualified_parts, rel_key, show, strings, walk
from supatenant.check.rules import FileReview, Hit, on_file, on_statement, rule
from supatenant.check.sqlfile import Statement

rule("concurrently-mixed", "error", "execution", "a concurrent statement shares its file with others")
rule("transaction-control", "error", "execution", "begin/commit/rollback inside a migration file")
rule(
    "destructive-idempotency",
    "error",
    "execution",
    "drop-and-recreate, truncate or delete-all in a migration",
)
rule("if-not-exists-clash", "error", "execution", "if not exists hides a different existing object")
rule("drop-if-exists-unknown", "warning", "execution", "drop ... if exists of a name that never existed")
rule("drop-cascade", "warning", "execution", "drop ... cascade takes other objects with it")
rule("seed-rows", "warning", "execution", "rows inserted by a migration")
rule("unbatched-backfill", "warning", "execution", "one update over an existing table")


def _concurrent(node: Any) -> bool:
    if isinstance(node, (ast.IndexStmt, ast.DropStmt, ast.RefreshMatViewStmt)):
        return bool(node.concurrent)
    if isinstance(node, ast.ReindexStmt):
        return any(isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in node.params or ())
    return False


@on_file
def concurrently_mixed(f: FileReview) -> Iterator[Hit]:
    stmts = f.sql.statements
    if len(stmts) < 2:
        return
    for s in stmts:
        if _concurrent(s.node):
            yield Hit(
                "concurrently-mixed",
                f"{_verb(s)} runs concurrently, and this file has {len(stmts) - 1} other statement(s): the "
                "CLI then runs the file outside a transaction, so a failure leaves it half applied",
                "move the concurrent statement into a migration file of its own",
                s.line,
            )


def _verb(s: Statement) -> str:
    words = s.text.split()
    return " ".join(words[:3]).lower()


@on_statement
def transaction_control(f: FileReview, s: Statement) -> Iterator[Hit]:
    if isinstance(s.node, ast.TransactionStmt):
        word = s.text.split()[0].lower() if s.text.split() else "begin"
        yield Hit(
            "transaction-control",
            f"`{word}` inside a migration: the CLI already runs each file in a transaction, so this "
            "ends or nests it and later statements run outside it",
            f"remove the `{word}`",
        )


def _creates(node: Any) -> tuple[str, Any] | None:
    """(kind, name) an object-creating statement makes, for matching drops against."""
    if isinstance(node, ast.CreateStmt):
        return ("relation", rel_key(node.relation))
    if isinstance(node, ast.ViewStmt):
        return ("relation", rel_key(node.view))
    if isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
        return ("relation", rel_key(node.into.rel))
    if isinstance(node, ast.IndexStmt) and node.idxname:
        return (
            "index",
            ((node.relation.schemaname or "public") if node.relation else "public", node.idxname),
        )
    if isinstance(node, ast.CreateFunctionStmt):
        return ("function", qualified(node.funcname))
    if isinstance(node, ast.CreatePolicyStmt):
        return ("policy", (rel_key(node.table), node.policy_name))
    if isinstance(node, ast.CreateTrigStmt):
        return ("trigger", (rel_key(node.relation), node.trigname))
    return None


_RELATION_DROPS = {
    ObjectType.OBJECT_TABLE: "table",
    ObjectType.OBJECT_VIEW: "view",
    ObjectType.OBJECT_MATVIEW: "materialized view",
}


def _dropped(n: ast.DropStmt) -> Iterator[tuple[str, str, Any, Any]]:
    """(kind, shown name, match key, the object node) for each object a drop names."""
    rt = n.removeType
    for obj in n.objects or ():
        if rt in _RELATION_DROPS:
            key = qualified(obj)
            yield ("relation", show(key), key, obj)
        elif rt == ObjectType.OBJECT_INDEX:
            key = qualified(obj)
            yield ("index", show(key), key, obj)
        elif rt in (ObjectType.OBJECT_FUNCTION, ObjectType.OBJECT_PROCEDURE) and isinstance(
            obj, ast.ObjectWithArgs
        ):
            key = qualified(obj.objname)
            yield ("function", show(key), key, obj)
        elif rt in (ObjectType.OBJECT_POLICY, ObjectType.OBJECT_TRIGGER):
            parts = strings(obj)
            table = qualified_parts(parts[:-1])
            kind = "policy" if rt == ObjectType.OBJECT_POLICY else "trigger"
            yield (kind, f'"{parts[-1]}" on {show(table)}', (table, parts[-1]), obj)


def _exists(m: Model, kind: str, key: Any, obj: Any) -> bool | None:
    """Whether the model has the object; None when the model cannot know (a schema it does not own)."""
    schema = key[0][0] if kind in ("policy", "trigger") else key[0]
    if schema in m.opaque_schemas or schema not in m.schemas or m.unseen(key[1]):
        return None
    if kind == "relation":
        return key in m.relations
    if kind == "index":
        return key in m.indexes
    if kind == "function":
        if isinstance(obj, ast.ObjectWithArgs) and not obj.args_unspecified:
            return (key[0], key[1], arg_types(obj.objargs)) in m.functions
        return bool(m.functions_named(key))
    table = m.relations.get(key[0])
    if table is None:
        return False
    return key[1] in (table.policies if kind == "policy" else table.triggers)


@on_statement
def drops(f: FileReview, s: Statement) -> Iterator[Hit]:
    n = s.node
    if not isinstance(n, ast.DropStmt):
        return
    later = [_creates(x.node) for x in f.later]
    for kind, shown, key, obj in _dropped(n):
        recreated = (kind, key) in later
        if kind == "relation" and recreated and key in f.model.relations:
            yield Hit(
                "destructive-idempotency",
                f"{shown} is dropped and created again: every run of this file throws away its rows",
                "create it once with `create table if not exists` and change it forward with `alter table`",
            )
        if n.missing_ok and not recreated and _exists(f.model, kind, key, obj) is False:
            yield Hit(
                "drop-if-exists-unknown",
                f"{kind} {shown} does not exist at this point, so this drop silently does nothing "
                "(a misspelled name?)",
                "name an object the migrations create, or remove the drop",
            )
    if n.behavior == DropBehavior.DROP_CASCADE:
        taken = sorted({d for _, _, key, obj in _dropped(n) for d in _dependents(f.model, n.removeType, key)})
        names = ", ".join(taken) if taken else "whatever depends on it in the database"
        yield Hit(
            "drop-cascade",
            f"`cascade` also drops {names}",
            "drop the dependent objects by name first, then drop without cascade",
        )


def _dependents(m: Model, rt: Any, key: Any) -> Iterator[str]:
    if rt in _RELATION_DROPS:
        for rel in m.relations.values():
            if rel.key == key:
                continue
            for fk in rel.fks.values():
                if fk.target == key:
                    yield f"foreign key {fk.name} on {show(rel.key)}"
            if rel.query is not None and key in _relations_read(rel.query):
                yield f"view {show(rel.key)}"
            for pol in rel.policies.values():
                if key in _relations_read((pol.qual, pol.with_check)):
                    yield f'policy "{pol.name}" on {show(rel.key)}'
    elif rt in (ObjectType.OBJECT_FUNCTION, ObjectType.OBJECT_PROCEDURE):
        for rel in m.relations.values():
            for name, fn in rel.triggers.items():
                if fn == key:
                    yield f"trigger {name} on {show(rel.key)}"
            for pol in rel.policies.values():
                if any(
                    isinstance(x, ast.FuncCall) and _fn_key(x) == key
                    for x in walk((pol.qual, pol.with_check))
                ):
                    yield f'policy "{pol.name}" on {show(rel.key)}'
    elif rt == ObjectType.OBJECT_SCHEMA:
        for rel in m.relations.values():
            if rel.key[0] == key[1]:
                yield f"{rel.kind} {show(rel.key)}"


def _fn_key(call: ast.FuncCall) -> Key:
    parts = strings(call.funcname)
    return (parts[-2], parts[-1]) if len(parts) >= 2 else ("public", parts[0])


def _relations_read(node: Any) -> set[Key]:
    return {rel_key(n) for n in walk(node) if isinstance(n, ast.RangeVar)}


@on_statement
def truncate_delete(f: FileReview, s: Statement) -> Iterator[Hit]:
    n = s.node
    if isinstance(n, ast.TruncateStmt):
        names = ", ".join(show(rel_key(r)) for r in n.relations or ())
        yield Hit(
            "destructive-idempotency",
            f"truncate {names}: every run of this file (and every environment it reaches) loses those rows",
            "leave existing rows alone: insert with `on conflict do nothing` or update what must change",
        )
    elif isinstance(n, ast.DeleteStmt) and n.whereClause is None:
        yield Hit(
            "destructive-idempotency",
            f"delete from {show(rel_key(n.relation))} without `where` empties the table on every run",
            "leave existing rows alone: insert with `on conflict do nothing` or delete only what is obsolete",
        )


@on_statement
def if_not_exists_clash(f: FileReview, s: Statement) -> Iterator[Hit]:
    n = s.node
    m = f.model
    if isinstance(n, ast.CreateStmt) and n.if_not_exists:
        key = rel_key(n.relation)
        old = m.relations.get(key)
        if old is None:
            return
        new_cols = {
            c.colname: _type_text(c.typeName) for c in n.tableElts or () if isinstance(c, ast.ColumnDef)
        }
        old_cols = {name: c.type.name for name, c in old.columns.items()}
        if old.kind != "table" or new_cols != old_cols:
            differs = sorted(set(new_cols.items()) ^ set(old_cols.items()))
            what = ", ".join(f"{c} {t}" for c, t in differs[:4]) or old.kind
            yield Hit(
                "if-not-exists-clash",
                f"{show(key)} already exists ({old.file}:{old.line}) with a different definition "
                f"(differs in: {what}); `if not exists` skips this one silently",
                "change the existing table with `alter table`, or give the new one another name",
            )
    elif isinstance(n, ast.IndexStmt) and n.if_not_exists and n.idxname:
        key = ((n.relation.schemaname or "public") if n.relation else "public", n.idxname)
        old_idx = m.indexes.get(key)
        if old_idx is None:
            return
        table = rel_key(n.relation)
        if old_idx.table != table or old_idx.columns != index_columns(n) or old_idx.unique != bool(n.unique):
            yield Hit(
                "if-not-exists-clash",
                f"index {show(key)} already exists on {show(old_idx.table)} "
                f"({', '.join(c or 'expr' for c in old_idx.columns)}); "
                "`if not exists` skips this different definition silently",
                "give the new index its own name, or drop the old one first",
            )


def _type_text(tn: Any) -> str:
    from supatenant.check.names import type_ref

    return type_ref(tn).name


@on_statement
def seed_rows(f: FileReview, s: Statement) -> Iterator[Hit]:
    n = s.node
    if (
        isinstance(n, ast.InsertStmt)
        and isinstance(n.selectStmt, ast.SelectStmt)
        and n.selectStmt.valuesLists
    ):
        table = f.model.relations.get(rel_key(n.relation))
        if table is not None and table.file == f.rel:
            return  # the reference rows of a table this file defines (a list of plans, say)
        rows = len(n.selectStmt.valuesLists)
        yield Hit(
            "seed-rows",
            f"{rows} row(s) inserted into {show(rel_key(n.relation))} by a migration: they reach every "
            "environment, production included, and cannot be told from users' rows",
            "put example data in supabase/seed.sql (or the seed script); keep migrations to schema",
        )


@on_statement
def unbatched_backfill(f: FileReview, s: Statement) -> Iterator[Hit]:
    n = s.node
    if not isinstance(n, ast.UpdateStmt):
        return
    key = rel_key(n.relation)
    if key not in f.existing:
        return
    batched = any(isinstance(x, ast.SelectStmt) and x.limitCount is not None for x in walk(n.whereClause))
    if not batched:
        yield Hit(
            "unbatched-backfill",
            f"one update over the existing table {show(key)}: it locks every row it touches until the "
            "whole migration commits, and blocks writers meanwhile",
            "backfill in batches (`where id in (select id ... limit 1000)`, repeated) outside this migration",
        )
