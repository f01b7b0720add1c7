"""RLS and exposure: what the API roles can reach, and policies that leak, recurse or crawl."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import A_Expr_Kind, AlterTableType, SubLinkType

from supatenant.check.bodies import body_statements, options
from supatenant.check.model import API_ROLES, Model, Policy, Relation
from supatenant.check.names import (
    Key,
    column_name,
    defelem_value,
    func_name,
    rel_key,
    show,
    strings,
    walk,
    walk_outside_sublinks,
)
from supatenant.check.rules import FileReview, Hit, on_file, on_statement, rule
from supatenant.check.sqlfile import Statement

rule("rls-disabled", "error", "rls", "a table in an exposed schema without row level security")
rule(
    "policy-without-tenant-condition",
    "error",
    "rls",
    "a permissive policy on a tenant table that ignores the tenant",
)
rule("policy-reads-own-table", "error", "rls", "a policy that queries its own table (infinite recursion)")
rule(
    "policy-call-not-wrapped",
    "warning",
    "rls",
    "auth.uid() or a helper called per row instead of (select ...)",
)
rule("policy-column-unindexed", "warning", "rls", "a column a policy filters on has no index")
rule("security-definer-search-path", "error", "rls", "security definer without a fixed search_path")
rule("function-executable-by-anon", "error", "rls", "a function anon can execute")
rule("view-security-invoker", "error", "rls", "a view in an exposed schema without security_invoker")
rule("matview-exposed", "error", "rls", "a materialized view the API roles can read")
rule(
    "refresh-concurrently-without-unique",
    "error",
    "rls",
    "refresh concurrently of a view with no unique index",
)
rule("extension-in-public", "warning", "rls", "an extension installed in public")


@on_statement
def disable_rls(f: FileReview, s: Statement) -> Iterator[Hit]:
    n = s.node
    if isinstance(n, ast.AlterTableStmt):
        key = rel_key(n.relation)
        if key[0] in f.exposed and any(
            c.subtype == AlterTableType.AT_DisableRowSecurity for c in n.cmds or ()
        ):
            yield Hit(
                "rls-disabled",
                f"row level security is turned off on {show(key)}, in the exposed schema {key[0]}: "
                "the API roles then reach every row their grants allow",
                "keep it enabled and write policies for what each role may do",
            )


@on_file
def exposure(f: FileReview) -> Iterator[Hit]:
    m = f.model
    for key, line in f.touched.items():
        rel = m.relations.get(key)
        if rel is None or rel.file != f.rel:
            continue
        if rel.kind == "table" and key[0] in f.exposed and not rel.rls:
            yield Hit(
                "rls-disabled",
                f"{show(key)} is in the exposed schema {key[0]} without row level security: anyone with "
                "the anon key reads and writes it as far as its grants go",
                f"alter table {show(key)} enable row level security; then add policies",
                line,
            )
        elif rel.kind == "view" and key[0] in f.exposed and not rel.security_invoker and _api_readers(m, rel):
            yield Hit(
                "view-security-invoker",
                f"view {show(key)} runs with its owner's rights, so it reads its tables past their RLS",
                "create it `with (security_invoker = true)`",
                line,
            )
        elif rel.kind == "matview" and _api_readers(m, rel):
            yield Hit(
                "matview-exposed",
                f"materialized view {show(key)} has no RLS and {', '.join(sorted(_api_readers(m, rel)))} can "
                "select from it: every tenant's rows",
                f"revoke all on {show(key)} from public, anon, authenticated; serve it through a function "
                "that filters by the caller's tenants (or keep it in an unexposed schema)",
                line,
            )


def _api_readers(m: Model, rel: Relation) -> set[str]:
    usage = m.schema_usage.get(rel.key[0], set())
    roles = rel.readers & {"public", *API_ROLES}
    if not (usage & {"public", *API_ROLES}):
        return set()
    return roles


@on_file
def functions(f: FileReview) -> Iterator[Hit]:
    m = f.model
    for fn in list(m.functions.values()):
        if fn.file != f.rel or fn.returns_trigger:
            continue
        who = fn.executors & {"public", "anon"}
        if who and m.anon_reaches(fn.key[0]):
            yield Hit(
                "function-executable-by-anon",
                f"{show(fn.key)}({', '.join(fn.args)}) can be executed by anon "
                f"({'PUBLIC' if 'public' in who else 'anon'} holds execute): anyone with the anon "
                "key can call it",
                f"revoke all on function {show(fn.key)}({', '.join(fn.args)}) from public, anon; "
                "grant execute to the roles that need it",
                fn.line,
            )


@on_statement
def security_definer(f: FileReview, s: Statement) -> Iterator[Hit]:
    n = s.node
    if not isinstance(n, ast.CreateFunctionStmt):
        return
    opts = {o.defname: o for o in n.options or () if isinstance(o, ast.DefElem)}
    definer = "security" in opts and bool(defelem_value(opts["security"].arg))
    sets_path = any(
        isinstance(o, ast.DefElem)
        and o.defname == "set"
        and isinstance(o.arg, ast.VariableSetStmt)
        and o.arg.name == "search_path"
        for o in n.options or ()
    )
    name = ".".join(strings(n.funcname))
    later = any(
        isinstance(x.node, ast.AlterFunctionStmt)
        and x.node.func is not None
        and ".".join(strings(x.node.func.objname)) == name
        and "search_path" in x.text.lower()
        for x in f.later
    )
    if definer and not sets_path and not later:
        yield Hit(
            "security-definer-search-path",
            f"{name} runs as its owner with the caller's search_path: a caller can put their own "
            "objects first and run them with the owner's rights",
            "add `set search_path = ''` and schema-qualify every name in the body",
        )


# extensions that always install into a schema of their own, whatever the statement says
OWN_SCHEMA_EXTENSIONS = frozenset(
    {"plpgsql", "pg_cron", "pg_net", "pgsodium", "pg_graphql", "supabase_vault", "pgmq", "pg_tle"}
)


@on_statement
def extension_schema(f: FileReview, s: Statement) -> Iterator[Hit]:
    n = s.node
    if not isinstance(n, ast.CreateExtensionStmt) or n.extname in OWN_SCHEMA_EXTENSIONS:
        return
    schema = next(
        (
            defelem_value(o.arg)
            for o in n.options or ()
            if isinstance(o, ast.DefElem) and o.defname == "schema"
        ),
        None,
    )
    if schema in (None, "public"):
        yield Hit(
            "extension-in-public",
            f"extension {n.extname} goes into public: its functions and tables become part of the API "
            "and clutter the schema's advisors",
            f"create extension if not exists {n.extname} with schema extensions",
        )


# -- policies ---------------------------------------------------------------------------------


def _tenant_column(m: Model, table: Key) -> str | None:
    from supatenant.check.rules.references import tenants_table

    rel = m.relations.get(table)
    if rel is None:
        return None
    if "tenant_id" in rel.columns:
        return "tenant_id"
    if table == tenants_table(m):
        return rel.pk[0] if len(rel.pk) == 1 else "id"
    return None


def _mentions(expr: Any, table: Key, column: str) -> bool:
    for n in walk_outside_sublinks(expr):
        ref = column_name(n)
        if ref and ref[1] == column and ref[0] in (None, table[1]):
            return True
    for n in walk(expr):
        ref = column_name(n)
        if ref and ref[1] == column and ref[0] == table[1]:
            return True
    return False


def _policy_of(f: FileReview, s: Statement) -> Policy | None:
    n = s.node
    if not isinstance(n, ast.CreatePolicyStmt):
        return None
    return Policy(
        n.policy_name or "",
        rel_key(n.table),
        n.cmd_name or "all",
        bool(n.permissive),
        tuple(r.rolename or "public" for r in n.roles or () if isinstance(r, ast.RoleSpec)),
        n.qual,
        n.with_check,
        f.rel,
        s.line,
    )


@on_statement
def policies(f: FileReview, s: Statement) -> Iterator[Hit]:
    pol = _policy_of(f, s)
    if pol is None:
        return
    m = f.model
    exprs = (pol.qual, pol.with_check)
    column = _tenant_column(m, pol.table)
    bypassing = set(pol.roles) <= {"service_role", "postgres"}  # RLS never applies to them
    if pol.permissive and column and not bypassing and not _mentions(exprs, pol.table, column):
        yield Hit(
            "policy-without-tenant-condition",
            f'policy "{pol.name}" on the tenant table {show(pol.table)} never tests {column}: it lets '
            "its roles reach every tenant's rows",
            f"bound it by the caller's tenants, e.g. {column} = any (array(select ... caller's tenants))",
        )
    for n in walk(exprs):
        if isinstance(n, ast.RangeVar) and rel_key(n) == pol.table:
            yield Hit(
                "policy-reads-own-table",
                f'policy "{pol.name}" selects from {show(pol.table)} itself: evaluating it applies the '
                "policy again (infinite recursion)",
                "read the caller's memberships through a security definer helper in a private schema",
            )
            break
    yield from _recursive_helpers(m, pol)
    yield from _unwrapped_calls(m, pol)
    yield from _unindexed(m, pol)


def _recursive_helpers(m: Model, pol: Policy) -> Iterator[Hit]:
    """Helpers the policy calls that read its table with the caller's rights: RLS applies to
    that read too, and so the policy again."""
    seen: set[Key] = set()
    for n in walk((pol.qual, pol.with_check)):
        if not isinstance(n, ast.FuncCall):
            continue
        schema, name = func_name(n)
        key = (schema or "public", name)
        if key in seen:
            continue
        seen.add(key)
        for fn in m.functions_named(key):
            if fn.security_definer:
                continue
            statements = body_statements(fn.language, fn.body, fn.source)
            if pol.table in {rel_key(x) for x in walk(statements) if isinstance(x, ast.RangeVar)}:
                yield Hit(
                    "policy-reads-own-table",
                    f'policy "{pol.name}" calls {show(key)}(), which reads {show(pol.table)} with the '
                    "caller's rights: the policy applies again (infinite recursion)",
                    f"make {show(key)}() security definer (set search_path = '') in a private schema",
                )
                break


def _unwrapped_calls(m: Model, pol: Policy) -> Iterator[Hit]:
    seen: set[Key] = set()
    for n in walk_outside_sublinks((pol.qual, pol.with_check)):
        if not isinstance(n, ast.FuncCall):
            continue
        key = func_name(n)
        helper = key[0] == "auth" or (key[0] and bool(m.functions_named(key)))
        if not helper or key in seen or any(isinstance(x, ast.ColumnRef) for x in walk(n.args)):
            continue
        seen.add(key)
        yield Hit(
            "policy-call-not-wrapped",
            f'policy "{pol.name}" calls {show(key)}() for every row it filters',
            f"write it as (select {show(key)}()) so it runs once per statement",
        )


def _identity_columns(pol: Policy) -> list[str]:
    """Columns of the policy's table that its USING compares with the caller's identity."""
    table = pol.table[1]
    out: list[str] = []

    def own(node: Any, inside: bool) -> list[str]:
        nodes = node.args if isinstance(node, ast.RowExpr) else [node]
        cols = []
        for x in nodes or ():
            ref = column_name(x)
            if ref and (ref[0] == table or (ref[0] is None and not inside)):
                cols.append(ref[1])
        return cols

    def other_side(node: Any, inside: bool) -> bool:
        items = node if isinstance(node, (list, tuple)) else [node]
        consts = [x.arg if isinstance(x, ast.TypeCast) else x for x in items]
        if not items or all(isinstance(x, ast.A_Const) for x in consts):
            return False
        return not own(node, inside)

    def visit(node: Any, inside: bool) -> None:
        for n in walk_outside_sublinks(node) if not inside else walk(node):
            if isinstance(n, ast.A_Expr) and n.kind in (
                A_Expr_Kind.AEXPR_OP,
                A_Expr_Kind.AEXPR_OP_ANY,
                A_Expr_Kind.AEXPR_IN,
            ):
                if strings(n.name) in (["="], ["<>"]) or n.kind != A_Expr_Kind.AEXPR_OP:
                    for side, other in ((n.lexpr, n.rexpr), (n.rexpr, n.lexpr)):
                        cols = own(side, inside)
                        if cols and other_side(other, inside):
                            out.extend(c for c in cols if c not in out)
            elif isinstance(n, ast.SubLink):
                if n.subLinkType == SubLinkType.ANY_SUBLINK:
                    out.extend(c for c in own(n.testexpr, inside) if c not in out)
                if not inside:
                    visit(n.subselect, True)

    visit(pol.qual, False)
    return out


def _unindexed(m: Model, pol: Policy) -> Iterator[Hit]:
    if pol.cmd == "insert" or pol.qual is None:
        return
    rel = m.relations.get(pol.table)
    if rel is None or rel.kind != "table":
        return
    cols = _identity_columns(pol)
    indexes = [i.columns for i in m.table_indexes(pol.table) if not i.partial]
    for col in cols:
        if col not in rel.columns:
            continue
        covered = any(col in idx and all(c in cols for c in idx[: idx.index(col)]) for idx in indexes)
        if not covered:
            yield Hit(
                "policy-column-unindexed",
                f'policy "{pol.name}" filters {show(pol.table)} on {col}, which no index leads with: '
                "every read scans the table",
                f"create index on {show(pol.table)} ({col}) (concurrently, in its own file, if the "
                "table has rows)",
            )


# -- materialized view refreshes ---------------------------------------------------------------


def _refreshes(s: Statement) -> Iterator[Key]:
    n = s.node
    if isinstance(n, ast.RefreshMatViewStmt) and n.concurrent:
        yield rel_key(n.relation)
    elif isinstance(n, ast.CreateFunctionStmt) and "concurrently" in s.text.lower():
        for stmt in body_statements(*options(n), s.text):
            if isinstance(stmt, ast.RefreshMatViewStmt) and stmt.concurrent:
                yield rel_key(stmt.relation)


@on_file
def refresh_concurrently(f: FileReview) -> Iterator[Hit]:
    m = f.model
    for s in f.sql.statements:
        for key in _refreshes(s):
            rel = m.relations.get(key)
            if rel is None or rel.kind != "matview":
                continue
            unique = any(i.unique and not i.partial and None not in i.columns for i in m.table_indexes(key))
            if not unique:
                yield Hit(
                    "refresh-concurrently-without-unique",
                    f"refresh materialized view concurrently {show(key)} fails: it has no unique index "
                    "on plain columns",
                    f"create unique index on {show(key)} over the columns that identify a row",
                    s.line,
                )
