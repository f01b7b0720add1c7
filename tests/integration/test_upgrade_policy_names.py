"""Upgrading a database holding data from the previous main (up to 20261122210000) to the
policy names that fit PostgreSQL's 63 bytes, and rolling that back exactly."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from supatenant import database
from supatenant.auth import Identity
from supatenant.project import supabase_dir
from supatenant.seeding.load import seed_database
from supatenant.seeding.plan import ANCHOR, PRESETS
from tests.integration.test_upgrade import (
    THREADS,
    previous_project,
    rows_as,
    schema_fingerprint,
    snapshot,
    table_columns,
)

PREVIOUS = "20261122210000"
RENAMED = "20261122222000"
CUT_OFF = {
    ("users", "Members can edit their own profile and admins any member of the"),
    ("conversations", "Members can read their own conversations and admins all in thei"),
    ("messages", "Members can read messages of their own conversations and admins"),
    ("feedback", "Members can read their own feedback and admins all in their ten"),
}
NEW = {
    ("users", "Members edit their own profile, admins any in their tenant"),
    ("conversations", "Members read their own conversations, admins all in tenant"),
    ("messages", "Members read messages of their own conversations, admins all"),
    ("feedback", "Members read their own feedback, admins all in their tenant"),
}


def _policies(url: str) -> set[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select tablename::text, policyname::text from pg_policies where schemaname = 'public'"
        )
        return {(r[0], r[1]) for r in rows.fetchall()}


def _named_in_sql() -> set[str]:
    """Every policy name a migration creates, as written."""
    names: set[str] = set()
    for path in (supabase_dir() / "migrations").glob("*.sql"):
        names |= set(re.findall(r'create policy "([^"]+)"', path.read_text()))
    return names


def _members_read_what_the_matrix_says(conn: psycopg.Connection[Any], seeded: list[Any]) -> None:
    """Each seeded member reads their own threads, or all of the tenant's as owner or admin."""
    checked = 0
    for tenant in seeded:
        for cred in tenant.credentials:
            seen = {r[0] for r in rows_as(conn, Identity.user(UUID(cred["auth_id"])), THREADS)}
            everything = {c["id"] for c in tenant.conversations}
            mine = {c["id"] for c in tenant.conversations if str(c["user_id"]) == cred["member_id"]}
            expected = set() if not cred["active"] else mine if cred["role"] == "member" else everything
            assert seen == expected, cred["email"]
            checked += bool(expected)
    assert checked


def test_every_policy_name_fits_and_is_stored_as_written(db_url: str) -> None:
    stored = {name for _, name in _policies(db_url)}
    assert all(len(name.encode()) <= 63 for name in stored)
    assert not {name for _, name in CUT_OFF} & stored
    assert {name for _, name in NEW} <= stored
    # every stored name is either written in full by a migration or one of the renames
    assert stored - _named_in_sql() <= {name for _, name in NEW}


def test_the_upgrade_renames_the_cut_off_policies_and_rolls_back(
    fresh_database: Callable[[], str], tmp_path: Path
) -> None:
    url = fresh_database()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUPATENANT_PROJECT_DIR", str(previous_project(tmp_path, PREVIOUS)))
        database.prepare(url)
    _, seeding = seed_database(url, PRESETS["tiny"], 1, ANCHOR)
    seeded = [seeding.tenant(n) for n in range(len(seeding.heads))]
    before_policies = _policies(url)
    assert before_policies >= CUT_OFF
    columns = table_columns(url)  # the previous version's: later migrations add columns
    before = snapshot(url, columns)
    previous_schema = schema_fingerprint(url)

    database.push(url)
    after: set[tuple[str, str]] = _policies(url)
    # the four renamed, every other kept (newer migrations may add policies of their own)
    assert after >= (before_policies - CUT_OFF) | NEW
    assert not after & CUT_OFF
    assert snapshot(url, columns) == before
    conn: psycopg.Connection[Any]
    with psycopg.connect(url) as conn:
        _members_read_what_the_matrix_says(conn, seeded)
        # the renamed policies keep their definitions
        definitions = conn.execute(
            "select count(*) from pg_policies where schemaname = 'public' and policyname = any(%s)"
            " and cmd in ('SELECT', 'UPDATE') and roles = '{authenticated}'",
            ([name for _, name in NEW],),
        ).fetchone()
    assert definitions == (4,)

    undone = database.rollback(url, PREVIOUS)
    assert RENAMED in undone
    assert schema_fingerprint(url) == previous_schema
    assert _policies(url) == before_policies
    assert snapshot(url, columns) == before
    database.push(url)
    assert _policies(url) == after
