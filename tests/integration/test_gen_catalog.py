"""``supatenant gen`` reads catalogs it did not write: naive timestamps and extensions in ``public``."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from supatenant.codegen import _models_from
from supatenant.codegen.catalog import build_schema


def test_a_timestamp_column_becomes_a_naive_date_time(fresh_database: Callable[[], str]) -> None:
    url = fresh_database()
    with psycopg.connect(url) as conn:
        conn.execute("create table public.events (id uuid primary key, happened_at timestamp not null)")
        schema = build_schema(conn)
    happened = schema["$defs"]["EventsRow"]["properties"]["happened_at"]
    assert happened == {"type": "string", "format": "date-time-local"}
    import json

    models = _models_from(json.dumps(schema))
    assert "happened_at: NaiveDatetime" in models


def test_an_extension_installed_in_public_is_not_read_as_the_projects_functions(
    fresh_database: Callable[[], str],
) -> None:
    url = fresh_database()
    with psycopg.connect(url) as conn:
        conn.execute("create extension pg_trgm schema public")
        conn.execute(
            "create function public.shout(words text) returns text language sql immutable"
            " as $$ select upper(words) $$"
        )
        conn.execute(
            "create function public.unnamed(text) returns text language sql immutable as $$ select $1 $$"
        )
        schema = build_schema(conn)
    functions = sorted(k for k in schema["$defs"] if k.endswith("Args"))
    # pg_trgm's functions (similarity, show_trgm, ...) belong to the extension; a function
    # whose arguments have no names cannot be called by name through the Data API
    assert functions == ["ShoutArgs"]
    assert schema["$defs"]["ShoutArgs"]["properties"] == {"words": {"type": "string"}}
