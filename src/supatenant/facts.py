"""What a database's catalog says about the project's schemas, as facts that compare.

Each fact is ``(kind, object) -> definition``: a table and its RLS flags, a column and its
type, an index, a constraint, a policy, a function, a trigger, a grant (grantee and
privileges, never the grantor or the owner's own rights, so two databases owned by
different roles compare equal), and the installed extensions. Two databases given the same
migrations give the same facts; any difference is something one of them did differently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psycopg

SCHEMAS = ("public", "private")
Facts = dict[tuple[str, str], str]

_FACTS = """
with ns as (select oid from pg_namespace where nspname = any(%(schemas)s)),
rel as (select c.* from pg_class c where c.relnamespace in (select oid from ns)
        and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                        and d.objid = c.oid and d.deptype = 'e'))
select 'table', oid::regclass::text, concat_ws('|', relkind, relrowsecurity, relforcerowsecurity,
       array_to_string(reloptions, ','))
  from rel where relkind in ('r', 'p', 'v', 'm', 'S', 'f')
union all
select 'column', a.attrelid::regclass::text || '.' || quote_ident(a.attname),
       concat_ws('|', format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
                 a.attgenerated)
  from pg_attribute a join rel c on c.oid = a.attrelid
  left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
 where c.relkind in ('r', 'p', 'v', 'm', 'f') and a.attnum > 0 and not a.attisdropped
union all
select 'index', oid::regclass::text, pg_get_indexdef(oid) from rel where relkind in ('i', 'I')
union all
select 'view', oid::regclass::text, pg_get_viewdef(oid) from rel where relkind in ('v', 'm')
union all
select 'constraint', k.conrelid::regclass::text || '.' || quote_ident(k.conname),
       pg_get_constraintdef(k.oid) || case when k.convalidated then '' else ' (not validated)' end
  from pg_constraint k where k.connamespace in (select oid from ns) and k.conrelid <> 0
union all
select 'policy', quote_ident(schemaname) || '.' || quote_ident(tablename) || '.' || quote_ident(policyname),
       concat_ws('|', permissive, cmd, roles::text, qual, with_check)
  from pg_policies where schemaname = any(%(schemas)s)
union all
select 'function', p.oid::regprocedure::text,
       concat_ws('|', md5(p.prosrc), p.prosecdef, p.provolatile, p.proconfig::text,
                 pg_get_function_result(p.oid))
  from pg_proc p where p.pronamespace in (select oid from ns)
   and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass
                   and d.objid = p.oid and d.deptype = 'e')
union all
select 'trigger', t.tgrelid::regclass::text || '.' || quote_ident(t.tgname), pg_get_triggerdef(t.oid)
  from pg_trigger t join rel c on c.oid = t.tgrelid where not t.tgisinternal
union all
select 'grant', c.oid::regclass::text || ' to ' || coalesce(g.rolname, 'public'),
       string_agg(x.privilege_type, ',' order by x.privilege_type)
  from rel c cross join lateral aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) x
  left join pg_roles g on g.oid = x.grantee
 where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') and x.grantee <> c.relowner
 group by 2
union all
select 'grant', a.attrelid::regclass::text || '.' || quote_ident(a.attname) || ' to '
       || coalesce(g.rolname, 'public'), string_agg(x.privilege_type, ',' order by x.privilege_type)
  from pg_attribute a join rel c on c.oid = a.attrelid
  cross join lateral aclexplode(a.attacl) x left join pg_roles g on g.oid = x.grantee
 where a.attacl is not null and x.grantee <> c.relowner
 group by 2
union all
select 'grant', p.oid::regprocedure::text || ' to ' || coalesce(g.rolname, 'public'),
       string_agg(x.privilege_type, ',' order by x.privilege_type)
  from pg_proc p cross join lateral aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) x
  left join pg_roles g on g.oid = x.grantee
 where p.pronamespace in (select oid from ns) and x.grantee <> p.proowner
   and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass
                   and d.objid = p.oid and d.deptype = 'e')
 group by 2
union all
select 'extension', e.extname, n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
"""


def read(conn: psycopg.Connection[Any], schemas: Sequence[str] = SCHEMAS) -> Facts:
    """The facts of ``schemas``. Names are read schema-qualified (an empty search path), so
    they compare across servers whatever their search path."""
    with conn.transaction():
        row = conn.execute(
            "select current_setting('search_path'), set_config('search_path', '', true)"
        ).fetchone()
        assert row is not None
        rows = conn.execute(_FACTS, {"schemas": list(schemas)}, prepare=True).fetchall()
        conn.execute("select set_config('search_path', %s, true)", (row[0],))
    return {(str(kind), str(key)): str(value) for kind, key, value in rows}


Change = Literal["missing", "extra", "different"]


@dataclass(frozen=True)
class Difference:
    """``missing``: expected but absent; ``extra``: present but not expected."""

    kind: str
    object: str
    change: Change
    expected: str | None
    actual: str | None

    def describe(self) -> str:
        if self.change == "missing":
            return f"{self.kind} {self.object} is missing"
        if self.change == "extra":
            return f"{self.kind} {self.object} is not defined by the migrations"
        return f"{self.kind} {self.object} differs: expected {self.expected!r}, found {self.actual!r}"


def diff(expected: Mapping[tuple[str, str], str], actual: Mapping[tuple[str, str], str]) -> list[Difference]:
    out = []
    for key in sorted(expected.keys() | actual.keys()):
        want, have = expected.get(key), actual.get(key)
        if want == have:
            continue
        change: Change = "missing" if have is None else "extra" if want is None else "different"
        out.append(Difference(key[0], key[1], change, want, have))
    return out
