"""A model of the schema, built by replaying migration statements' parse trees in order.

It knows what the files create, alter and drop (relations, columns, constraints, indexes,
policies, triggers, functions and their grants), enough for a rule to ask "did this table
exist before this file?" or "what does this FK point at?". Statements it does not model
(``do`` blocks, dynamic SQL) leave it unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, GrantTargetType, ObjectType, RoleSpecType

from supatenant.check.names import (
    Key,
    TypeRef,
    defelem_value,
    qualified,
    qualified_parts,
    rel_key,
    strings,
    type_ref,
    walk,
)

API_ROLES = ("anon", "authenticated")


@dataclass
class Column:
    name: str
    type: TypeRef
    not_null: bool = False
    default: Any = None
    identity: bool = False


@dataclass
class Check:
    name: str
    expr: Any
    columns: tuple[str, ...]
    validated: bool = True


@dataclass
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    target: Key
    target_columns: tuple[str, ...]


@dataclass
class Index:
    key: Key
    table: Key
    columns: tuple[str | None, ...]
    unique: bool = False
    partial: bool = False
    method: str = "btree"
    constraint: bool = False


@dataclass
class Policy:
    name: str
    table: Key
    cmd: str
    permissive: bool
    roles: tuple[str, ...]
    qual: Any
    with_check: Any
    file: str
    line: int


@dataclass
class Relation:
    key: Key
    kind: str  # table, view, matview
    file: str
    line: int
    columns: dict[str, Column] = field(default_factory=dict)
    checks: dict[str, Check] = field(default_factory=dict)
    fks: dict[str, ForeignKey] = field(default_factory=dict)
    pk: tuple[str, ...] = ()
    rls: bool = False
    security_invoker: bool = False
    query: Any = None
    policies: dict[str, Policy] = field(default_factory=dict)
    triggers: dict[str, Key] = field(default_factory=dict)  # name -> function
    readers: set[str] = field(default_factory=set)  # roles granted select


@dataclass
class Function:
    key: Key
    args: tuple[str, ...]
    file: str
    line: int
    security_definer: bool = False
    search_path: bool = False
    returns_trigger: bool = False
    language: str = "sql"
    volatility: str = "volatile"
    body: str = ""
    source: str = ""  # the whole create statement, for PL/pgSQL's parser
    executors: set[str] = field(default_factory=set)


FuncKey = tuple[str, str, tuple[str, ...]]


@dataclass
class Model:
    schemas: set[str] = field(default_factory=lambda: {"public"})
    relations: dict[Key, Relation] = field(default_factory=dict)
    indexes: dict[Key, Index] = field(default_factory=dict)
    functions: dict[FuncKey, Function] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)  # name -> schema it went into
    dynamic: list[str] = field(default_factory=list)  # text of do blocks, whose effects are unseen
    schema_usage: dict[str, set[str]] = field(default_factory=dict)
    default_table_grants: dict[str, set[str]] = field(default_factory=dict)
    default_function_grants: dict[str, set[str]] = field(default_factory=dict)
    opaque_schemas: set[str] = field(default_factory=set)  # provided by the platform, not modelled whole
    file: str = ""

    # -- lookups ---------------------------------------------------------------------
    def relation(self, key: Key) -> Relation | None:
        return self.relations.get(key)

    def table_indexes(self, table: Key) -> list[Index]:
        return [i for i in self.indexes.values() if i.table == table]

    def functions_named(self, key: Key) -> list[Function]:
        return [f for f in self.functions.values() if f.key == key]

    def unseen(self, name: str) -> bool:
        """Whether a ``do`` block mentions ``name``: it may have made or renamed it out of sight."""
        return any(name in text for text in self.dynamic)

    def anon_reaches(self, schema: str) -> bool:
        return "anon" in self.schema_usage.get(schema, set()) or "public" in self.schema_usage.get(
            schema, set()
        )

    def pk_columns(self, key: Key) -> tuple[str, ...]:
        rel = self.relations.get(key)
        return rel.pk if rel else ()


def arg_types(params: Any) -> tuple[str, ...]:
    """A function's identifying argument types (in, inout, variadic), normalised."""
    out: list[str] = []
    for p in params or ():
        mode = getattr(p, "mode", None)
        if mode is not None and getattr(mode, "name", str(mode)) in ("FUNC_PARAM_OUT", "FUNC_PARAM_TABLE"):
            continue
        tn = p.argType if isinstance(p, ast.FunctionParameter) else p
        out.append(_type_id(tn))
    return tuple(out)


def _type_id(tn: Any) -> str:
    t = type_ref(tn)
    return t.name + ("[]" if t.array else "")


def _role_names(grantees: Any) -> set[str]:
    out: set[str] = set()
    for g in grantees or ():
        if isinstance(g, ast.RoleSpec):
            if g.roletype == RoleSpecType.ROLESPEC_PUBLIC:
                out.add("public")
            elif g.rolename:
                out.add(str(g.rolename))
        elif isinstance(g, ast.String):
            out.add(str(g.sval))
    return out


def auto_check_name(table: str, columns: tuple[str, ...]) -> str:
    return f"{table}_{columns[0] if columns else ''}_check"[:63]


def expr_columns(expr: Any) -> tuple[str, ...]:
    out: list[str] = []
    for n in walk(expr):
        if isinstance(n, ast.ColumnRef):
            parts = strings(n.fields)
            if parts and parts[-1] not in out:
                out.append(parts[-1])
    return tuple(out)


class Replayer:
    """Applies statements to a :class:`Model`."""

    def __init__(self, model: Model) -> None:
        self.m = model
        self.text = ""

    def apply(self, node: Any, file: str, line: int, text: str = "") -> None:
        self.text = text
        handler = getattr(self, "_" + _snake(type(node).__name__), None)
        if handler is not None:
            handler(node, file, line)

    # -- schemas and extensions ----------------------------------------------------------
    def _create_schema_stmt(self, n: ast.CreateSchemaStmt, file: str, line: int) -> None:
        if n.schemaname:
            self.m.schemas.add(n.schemaname)

    def _create_extension_stmt(self, n: ast.CreateExtensionStmt, file: str, line: int) -> None:
        schema = next(
            (
                defelem_value(o.arg)
                for o in n.options or ()
                if isinstance(o, ast.DefElem) and o.defname == "schema"
            ),
            None,
        )
        self.m.extensions.setdefault(n.extname or "", str(schema or "public"))

    # -- tables ------------------------------------------------------------------------
    def _create_stmt(self, n: ast.CreateStmt, file: str, line: int) -> None:
        key = rel_key(n.relation)
        if key in self.m.relations:
            return  # if not exists: the earlier definition stays
        rel = Relation(key=key, kind="table", file=file, line=line)
        self.m.relations[key] = rel
        rel.readers |= self.m.default_table_grants.get(key[0], set())
        for elt in n.tableElts or ():
            if isinstance(elt, ast.ColumnDef):
                self._add_column(rel, elt)
            elif isinstance(elt, ast.Constraint):
                self._add_constraint(rel, elt, validated=True)

    def _add_column(self, rel: Relation, cd: ast.ColumnDef) -> None:
        name = cd.colname or ""
        col = Column(name=name, type=type_ref(cd.typeName))
        rel.columns[name] = col
        if col.type.serial:
            col.not_null = True
        for c in cd.constraints or ():
            ct = c.contype
            if ct == ConstrType.CONSTR_NOTNULL:
                col.not_null = True
            elif ct == ConstrType.CONSTR_DEFAULT:
                col.default = c.raw_expr
            elif ct == ConstrType.CONSTR_IDENTITY:
                col.identity = True
                col.not_null = True
            elif ct == ConstrType.CONSTR_PRIMARY:
                col.not_null = True
                rel.pk = (name,)
                self._index_for(rel, c, (name,), "pkey")
            elif ct == ConstrType.CONSTR_UNIQUE:
                self._index_for(rel, c, (name,), "key")
            elif ct == ConstrType.CONSTR_CHECK:
                name = c.conname or auto_check_name(rel.key[1], (name,))
                rel.checks[name] = Check(name, c.raw_expr, (name,), not c.skip_validation)
            elif ct == ConstrType.CONSTR_FOREIGN:
                self._add_fk(rel, c, (name,))

    def _index_for(self, rel: Relation, c: ast.Constraint, cols: tuple[str, ...], suffix: str) -> None:
        if c.indexname:
            name = c.indexname
        elif c.conname:
            name = c.conname
        elif suffix == "pkey":
            name = f"{rel.key[1]}_pkey"
        else:
            name = f"{rel.key[1]}_{'_'.join(cols)}_key"
        key = (rel.key[0], name[:63])
        self.m.indexes[key] = Index(key, rel.key, tuple(cols), unique=True, constraint=True)

    def _add_fk(self, rel: Relation, c: ast.Constraint, cols: tuple[str, ...]) -> None:
        target = rel_key(c.pktable)
        tcols = tuple(strings(c.pk_attrs))
        name = c.conname or f"{rel.key[1]}_{'_'.join(cols)}_fkey"[:63]
        rel.fks[name] = ForeignKey(name, cols, target, tcols)

    def _add_constraint(self, rel: Relation, c: ast.Constraint, validated: bool) -> None:
        ct = c.contype
        if ct == ConstrType.CONSTR_PRIMARY:
            cols = tuple(strings(c.keys))
            rel.pk = cols
            for col in cols:
                if col in rel.columns:
                    rel.columns[col].not_null = True
            self._index_for(rel, c, cols, "pkey")
        elif ct == ConstrType.CONSTR_UNIQUE:
            self._index_for(rel, c, tuple(strings(c.keys)), "key")
        elif ct == ConstrType.CONSTR_CHECK:
            cols = expr_columns(c.raw_expr)
            name = c.conname or auto_check_name(rel.key[1], cols)
            rel.checks[name] = Check(name, c.raw_expr, cols, validated and not c.skip_validation)
        elif ct == ConstrType.CONSTR_FOREIGN:
            self._add_fk(rel, c, tuple(strings(c.fk_attrs)))

    def _alter_table_stmt(self, n: ast.AlterTableStmt, file: str, line: int) -> None:
        rel = self.m.relations.get(rel_key(n.relation))
        if rel is None:
            return
        for cmd in n.cmds or ():
            t = cmd.subtype
            if t == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                if cmd.def_.colname not in rel.columns:
                    self._add_column(rel, cmd.def_)
            elif t == AlterTableType.AT_DropColumn:
                rel.columns.pop(cmd.name, None)
                for name, chk in list(rel.checks.items()):
                    if cmd.name in chk.columns:
                        del rel.checks[name]
                for key, idx in list(self.m.indexes.items()):
                    if idx.table == rel.key and cmd.name in idx.columns:
                        del self.m.indexes[key]
            elif t == AlterTableType.AT_AlterColumnType and cmd.name in rel.columns:
                cd = cmd.def_
                if isinstance(cd, ast.ColumnDef):
                    rel.columns[cmd.name].type = type_ref(cd.typeName)
            elif t == AlterTableType.AT_SetNotNull and cmd.name in rel.columns:
                rel.columns[cmd.name].not_null = True
            elif t == AlterTableType.AT_DropNotNull and cmd.name in rel.columns:
                rel.columns[cmd.name].not_null = False
            elif t == AlterTableType.AT_ColumnDefault and cmd.name in rel.columns:
                rel.columns[cmd.name].default = cmd.def_
            elif t == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
                self._add_constraint(rel, cmd.def_, validated=True)
            elif t == AlterTableType.AT_ValidateConstraint and cmd.name in rel.checks:
                rel.checks[cmd.name].validated = True
            elif t == AlterTableType.AT_DropConstraint:
                rel.checks.pop(cmd.name, None)
                rel.fks.pop(cmd.name, None)
                self.m.indexes.pop((rel.key[0], cmd.name), None)
            elif t == AlterTableType.AT_EnableRowSecurity:
                rel.rls = True
            elif t == AlterTableType.AT_DisableRowSecurity:
                rel.rls = False
            elif t == AlterTableType.AT_SetRelOptions:
                for opt in cmd.def_ or ():
                    if isinstance(opt, ast.DefElem) and opt.defname == "security_invoker":
                        rel.security_invoker = _truthy(opt.arg)
            elif t == AlterTableType.AT_ResetRelOptions:
                for opt in cmd.def_ or ():
                    if isinstance(opt, ast.DefElem) and opt.defname == "security_invoker":
                        rel.security_invoker = False

    def _rename_stmt(self, n: ast.RenameStmt, file: str, line: int) -> None:
        rt = n.renameType
        if rt in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW):
            key = rel_key(n.relation)
            rel = self.m.relations.pop(key, None)
            if rel is not None:
                new = (key[0], n.newname or "")
                rel.key = new
                self.m.relations[new] = rel
                for idx in self.m.indexes.values():
                    if idx.table == key:
                        idx.table = new
        elif rt == ObjectType.OBJECT_COLUMN:
            rel = self.m.relations.get(rel_key(n.relation))
            if rel is not None and n.subname in rel.columns:
                col = rel.columns.pop(n.subname)
                col.name = n.newname or ""
                rel.columns[col.name] = col
                for idx in self.m.indexes.values():
                    if idx.table == rel.key:
                        idx.columns = tuple(n.newname if c == n.subname else c for c in idx.columns)
                rel.pk = tuple(col.name if c == n.subname else c for c in rel.pk)
        elif rt == ObjectType.OBJECT_POLICY:
            rel = self.m.relations.get(rel_key(n.relation))
            if rel is not None and n.subname in rel.policies:
                pol = rel.policies.pop(n.subname)
                pol.name = n.newname or ""
                rel.policies[pol.name] = pol
        elif rt == ObjectType.OBJECT_INDEX:
            key = rel_key(n.relation)
            renamed = self.m.indexes.pop(key, None)
            if renamed is not None:
                renamed.key = (key[0], n.newname or "")
                self.m.indexes[renamed.key] = renamed

    # -- indexes -------------------------------------------------------------------------
    def _index_stmt(self, n: ast.IndexStmt, file: str, line: int) -> None:
        table = rel_key(n.relation)
        cols = index_columns(n)
        name = n.idxname or f"{table[1]}_{'_'.join(c or 'expr' for c in cols)}_idx"
        key = (table[0], name[:63])
        if key in self.m.indexes:
            return
        self.m.indexes[key] = Index(
            key,
            table,
            cols,
            unique=bool(n.unique),
            partial=n.whereClause is not None,
            method=n.accessMethod or "btree",
        )

    # -- views ---------------------------------------------------------------------------
    def _view_stmt(self, n: ast.ViewStmt, file: str, line: int) -> None:
        key = rel_key(n.view)
        old = self.m.relations.get(key)
        rel = Relation(key=key, kind="view", file=file, line=line, query=n.query)
        if old is not None:
            rel.readers = old.readers
            rel.file, rel.line = old.file, old.line
        else:
            rel.readers = set(self.m.default_table_grants.get(key[0], set()))
        for opt in n.options or ():
            if isinstance(opt, ast.DefElem) and opt.defname == "security_invoker":
                rel.security_invoker = _truthy(opt.arg)
        for c in _target_names(n.query):
            rel.columns[c] = Column(c, TypeRef("unknown"))
        self.m.relations[key] = rel

    def _create_table_as_stmt(self, n: ast.CreateTableAsStmt, file: str, line: int) -> None:
        if n.into is None or n.into.rel is None:
            return
        key = rel_key(n.into.rel)
        if key in self.m.relations:
            return
        kind = "matview" if n.objtype == ObjectType.OBJECT_MATVIEW else "table"
        rel = Relation(key=key, kind=kind, file=file, line=line, query=n.query)
        rel.readers = set(self.m.default_table_grants.get(key[0], set()))
        for c in _target_names(n.query):
            rel.columns[c] = Column(c, TypeRef("unknown"))
        self.m.relations[key] = rel

    # -- policies and triggers -----------------------------------------------------------------
    def _create_policy_stmt(self, n: ast.CreatePolicyStmt, file: str, line: int) -> None:
        rel = self.m.relations.get(rel_key(n.table))
        if rel is None:
            return
        rel.policies[n.policy_name or ""] = Policy(
            name=n.policy_name or "",
            table=rel.key,
            cmd=n.cmd_name or "all",
            permissive=bool(n.permissive),
            roles=tuple(sorted(_role_names(n.roles))),
            qual=n.qual,
            with_check=n.with_check,
            file=file,
            line=line,
        )

    def _alter_policy_stmt(self, n: ast.AlterPolicyStmt, file: str, line: int) -> None:
        rel = self.m.relations.get(rel_key(n.table))
        pol = rel.policies.get(n.policy_name or "") if rel else None
        if pol is None:
            return
        if n.qual is not None:
            pol.qual = n.qual
        if n.with_check is not None:
            pol.with_check = n.with_check
        if n.roles:
            pol.roles = tuple(sorted(_role_names(n.roles)))

    def _create_trig_stmt(self, n: ast.CreateTrigStmt, file: str, line: int) -> None:
        rel = self.m.relations.get(rel_key(n.relation))
        if rel is not None:
            rel.triggers[n.trigname or ""] = qualified(n.funcname)

    # -- functions -----------------------------------------------------------------------
    def _create_function_stmt(self, n: ast.CreateFunctionStmt, file: str, line: int) -> None:
        key = qualified(n.funcname)
        args = arg_types(n.parameters)
        fkey = (key[0], key[1], args)
        old = self.m.functions.get(fkey)
        fn = Function(key, args, file, line, source=self.text)
        if old is not None:
            fn.executors = old.executors
            fn.file, fn.line = old.file, old.line
        else:
            fn.executors = {"public"} | self.m.default_function_grants.get(key[0], set())
        rt = type_ref(n.returnType) if n.returnType is not None else None
        fn.returns_trigger = rt is not None and rt.name in ("trigger", "event_trigger")
        for opt in n.options or ():
            if not isinstance(opt, ast.DefElem):
                continue
            if opt.defname == "security":
                fn.security_definer = _truthy(opt.arg)
            elif opt.defname == "volatility":
                fn.volatility = str(defelem_value(opt.arg)).lower()
            elif opt.defname == "language":
                fn.language = str(defelem_value(opt.arg)).lower()
            elif opt.defname == "set":
                if isinstance(opt.arg, ast.VariableSetStmt) and opt.arg.name == "search_path":
                    fn.search_path = True
            elif opt.defname == "as":
                body = defelem_value(opt.arg)
                fn.body = body[0] if isinstance(body, list) and body else str(body)
        if n.sql_body is not None:
            fn.language = "sql"
        self.m.functions[fkey] = fn

    def _alter_function_stmt(self, n: ast.AlterFunctionStmt, file: str, line: int) -> None:
        for fn in self.matching_functions(n.func):
            for opt in n.actions or ():
                if isinstance(opt, ast.DefElem) and opt.defname == "set":
                    if isinstance(opt.arg, ast.VariableSetStmt) and opt.arg.name == "search_path":
                        fn.search_path = True
                elif isinstance(opt, ast.DefElem) and opt.defname == "security":
                    fn.security_definer = _truthy(opt.arg)

    def matching_functions(self, owa: Any) -> list[Function]:
        if not isinstance(owa, ast.ObjectWithArgs):
            return []
        key = qualified(owa.objname)
        if owa.args_unspecified:
            return self.m.functions_named(key)
        fn = self.m.functions.get((key[0], key[1], arg_types(owa.objargs)))
        return [fn] if fn else []

    # -- drops ---------------------------------------------------------------------------
    def _drop_stmt(self, n: ast.DropStmt, file: str, line: int) -> None:
        rt = n.removeType
        for obj in n.objects or ():
            if rt in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW):
                key = qualified(obj)
                self.m.relations.pop(key, None)
                for ikey, idx in list(self.m.indexes.items()):
                    if idx.table == key:
                        del self.m.indexes[ikey]
            elif rt == ObjectType.OBJECT_INDEX:
                self.m.indexes.pop(qualified(obj), None)
            elif rt in (ObjectType.OBJECT_FUNCTION, ObjectType.OBJECT_PROCEDURE):
                for fn in self.matching_functions(obj):
                    self.m.functions.pop((fn.key[0], fn.key[1], fn.args), None)
            elif rt == ObjectType.OBJECT_SCHEMA:
                name = obj.sval if isinstance(obj, ast.String) else ""
                self.m.schemas.discard(name)
                for key in [k for k in self.m.relations if k[0] == name]:
                    del self.m.relations[key]
            elif rt in (ObjectType.OBJECT_POLICY, ObjectType.OBJECT_TRIGGER):
                parts = strings(obj)
                table = qualified_parts(parts[:-1])
                rel = self.m.relations.get(table)
                if rel is not None:
                    (rel.policies if rt == ObjectType.OBJECT_POLICY else rel.triggers).pop(parts[-1], None)
            elif rt == ObjectType.OBJECT_EXTENSION:
                self.m.extensions.pop(str(obj.sval) if isinstance(obj, ast.String) else "", None)

    # -- privileges ----------------------------------------------------------------------
    def _grant_stmt(self, n: ast.GrantStmt, file: str, line: int) -> None:
        roles = _role_names(n.grantees)
        privs = {p.priv_name for p in n.privileges or () if isinstance(p, ast.AccessPriv) and p.priv_name}
        all_privs = not n.privileges
        if n.targtype != GrantTargetType.ACL_TARGET_OBJECT:
            if n.targtype == GrantTargetType.ACL_TARGET_ALL_IN_SCHEMA and n.objtype in (
                ObjectType.OBJECT_FUNCTION,
                ObjectType.OBJECT_ROUTINE,
            ):
                for schema in strings(n.objects):
                    for fn in self.m.functions.values():
                        if fn.key[0] == schema and (all_privs or "execute" in privs):
                            _change(fn.executors, roles, bool(n.is_grant))
            if (
                n.targtype == GrantTargetType.ACL_TARGET_ALL_IN_SCHEMA
                and n.objtype == ObjectType.OBJECT_TABLE
            ):
                for schema in strings(n.objects):
                    for rel in self.m.relations.values():
                        if rel.key[0] == schema and (all_privs or "select" in privs):
                            _change(rel.readers, roles, bool(n.is_grant))
            return
        if n.objtype == ObjectType.OBJECT_SCHEMA and (all_privs or "usage" in privs):
            for schema in strings(n.objects):
                _change(self.m.schema_usage.setdefault(schema, set()), roles, bool(n.is_grant))
        elif n.objtype == ObjectType.OBJECT_TABLE and (all_privs or "select" in privs):
            for obj in n.objects or ():
                if isinstance(obj, ast.RangeVar):
                    table = self.m.relations.get(rel_key(obj))
                    if table is not None:
                        _change(table.readers, roles, bool(n.is_grant))
        elif n.objtype in (ObjectType.OBJECT_FUNCTION, ObjectType.OBJECT_ROUTINE) and (
            all_privs or "execute" in privs
        ):
            for obj in n.objects or ():
                for fn in self.matching_functions(obj):
                    _change(fn.executors, roles, bool(n.is_grant))

    def _alter_default_privileges_stmt(self, n: ast.AlterDefaultPrivilegesStmt, file: str, line: int) -> None:
        schemas = [
            s
            for opt in n.options or ()
            if isinstance(opt, ast.DefElem) and opt.defname == "schemas"
            for s in strings(opt.arg)
        ]
        action = n.action
        if action is None or not schemas:
            return
        roles = _role_names(action.grantees)
        if action.objtype == ObjectType.OBJECT_TABLE:
            target = self.m.default_table_grants
        elif action.objtype in (ObjectType.OBJECT_FUNCTION, ObjectType.OBJECT_ROUTINE):
            target = self.m.default_function_grants
        else:
            return
        for schema in schemas:
            _change(target.setdefault(schema, set()), roles, bool(action.is_grant))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _change(into: set[str], roles: set[str], grant: bool) -> None:
    if grant:
        into |= roles
    else:
        into -= roles


def _truthy(arg: Any) -> bool:
    v = defelem_value(arg)
    if isinstance(v, str):
        return v.lower() in ("true", "on", "yes", "1", "definer")
    return bool(v) if v is not None else True


def _target_names(query: Any) -> list[str]:
    out: list[str] = []
    if isinstance(query, ast.SelectStmt):
        for rt in query.targetList or ():
            if not isinstance(rt, ast.ResTarget):
                continue
            if rt.name:
                out.append(rt.name)
            elif isinstance(rt.val, ast.ColumnRef):
                parts = strings(rt.val.fields)
                if parts and parts[-1] != "*":
                    out.append(parts[-1])
    return out


def index_columns(n: ast.IndexStmt) -> tuple[str | None, ...]:
    """The indexed columns; None for an expression."""
    return tuple(e.name if isinstance(e, ast.IndexElem) and e.name else None for e in n.indexParams or ())
