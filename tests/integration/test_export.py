"""Exports on real PostgreSQL: JSONL, CSV per table and Markdown, sync and async, under RLS,
recorded in the audit log; the ``export`` and ``maintain`` commands."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from supatenant import AsyncStore, NotFound, Store, Unsupported
from supatenant.cli import main
from tests.integration.governance_world import Gov, build

Conn = psycopg.Connection[Any]


@pytest.fixture
def gov(db_url: str) -> Gov:
    return build(db_url)


@pytest.fixture
def service(db_url: str) -> Store:
    return Store.connect(db_url, service_role=True)


def jsonl(store: Store, **subject: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in b"".join(store.export.jsonl(**subject)).splitlines()]


def rows_by_table(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if "table" in r:
            out.setdefault(r["table"], []).append(r["row"])
    return out


def test_a_member_exports_their_own_data_and_nothing_else(db_url: str, gov: Gov, service: Store) -> None:
    m1 = service.as_user(gov.auth["m1"], tenant_id=gov.tenant)
    records = jsonl(m1, member_id=gov.member["m1"])
    head, end = records[0], records[-1]
    assert head["type"] == "header"
    assert head["subject"]["kind"] == "member"
    assert head["schema_version"] >= "20261122221000"
    tables = rows_by_table(records)
    # every row's columns are the catalog's (new columns come along unchanged)
    for table, rows in tables.items():
        assert all(list(r) == head["tables"][table] for r in rows), table
    assert end == {"type": "end", "rows": {t: len(tables.get(t, [])) for t in head["tables"]}}
    assert [r["id"] for r in tables["users"]] == [str(gov.member["m1"])]
    own = {str(gov.conversations["m1.0"]), str(gov.conversations["m1.1"])}
    assert {r["id"] for r in tables["conversations"]} == own
    assert {r["conversation_id"] for r in tables["messages"]} == own
    assert len(tables["messages"]) == 8
    assert {r["user_id"] for r in tables["feedback"]} == {str(gov.member["m1"])}
    assert len(tables["usage_metrics"]) == 2
    # RLS applies: the audit log is an admin's to read
    assert "audit_events" not in tables
    # the export is recorded, with its row counts
    with psycopg.connect(db_url) as conn:
        last = conn.execute(
            "select action, subject_type, subject_id, actor_member_id, after from audit_events"
            " where tenant_id = %s order by seq desc limit 1",
            (gov.tenant,),
        ).fetchone()
    assert last == (
        "export",
        "member",
        gov.member["m1"],
        gov.member["m1"],
        {"format": "jsonl", "rows": end["rows"]},
    )


def test_who_may_export_what_and_missing_looks_like_forbidden(gov: Gov, service: Store) -> None:
    def store(name: str, tenant: uuid.UUID | None = None) -> Store:
        return service.as_user(gov.auth[name], tenant_id=tenant or gov.tenant)

    missing = uuid.uuid4()
    refused: dict[str, Callable[[], object]] = {
        "a member exports a colleague": lambda: jsonl(store("m1"), member_id=gov.member["m2"]),
        "a member exports a colleague's thread": lambda: jsonl(
            store("m1"), conversation_id=gov.conversations["m2.0"]
        ),
        "a member exports the tenant": lambda: jsonl(store("m1"), tenant_id=gov.tenant),
        "an admin exports the tenant": lambda: jsonl(store("admin"), tenant_id=gov.tenant),
        "another tenant's admin exports a member": lambda: jsonl(
            store("outsider_admin", gov.other), tenant_id=gov.tenant, member_id=gov.member["m1"]
        ),
        "another tenant's owner exports it": lambda: jsonl(store("o_owner", gov.other), tenant_id=gov.tenant),
        "a missing member": lambda: jsonl(store("admin"), member_id=missing),
        "a missing conversation": lambda: jsonl(store("admin"), conversation_id=missing),
        "a missing tenant": lambda: jsonl(service, tenant_id=missing),
    }
    outcomes = {}
    for why, action in refused.items():
        try:
            action()
            outcomes[why] = "exported"
        except NotFound as e:
            outcomes[why] = "not found" if "not found, or not visible to you" in str(e) else str(e)
    assert outcomes == dict.fromkeys(refused, "not found")
    # the allowed: a member their own thread, an admin a member, the owner and the service role the tenant
    assert len(rows_by_table(jsonl(store("m1"), conversation_id=gov.conversations["m1.0"]))["messages"]) == 4
    assert len(rows_by_table(jsonl(store("admin"), member_id=gov.member["m2"]))["messages"]) == 8
    owner_tables = rows_by_table(jsonl(store("owner"), tenant_id=gov.tenant))
    service_tables = rows_by_table(jsonl(service, tenant_id=gov.tenant))
    assert len(owner_tables["messages"]) == len(service_tables["messages"]) == 24
    assert {r["tenant_id"] for rows in service_tables.values() for r in rows if "tenant_id" in r} == {
        str(gov.tenant)
    }
    assert [r["id"] for r in service_tables["tenants"]] == [str(gov.tenant)]
    # a conversation export carries the feedback on its turns
    feedback = rows_by_table(jsonl(store("admin"), conversation_id=gov.conversations["m1.0"]))["feedback"]
    assert len(feedback) == 2


def test_a_tenant_export_holds_every_row_the_database_holds(db_url: str, gov: Gov, service: Store) -> None:
    tables = rows_by_table(jsonl(service, tenant_id=gov.tenant))
    with psycopg.connect(db_url) as conn:
        for table, rows in tables.items():
            key = "id" if table == "tenants" else "tenant_id"
            stored = conn.execute(
                psycopg.sql.SQL("select to_jsonb(t) from public.{} t where {} = %s").format(
                    psycopg.sql.Identifier(table), psycopg.sql.Identifier(key)
                ),
                (gov.tenant,),
            ).fetchall()
            # the same rows, value for value (jsonb's numbers and text read back alike)
            exported = {json.dumps(r, sort_keys=True) for r in rows}
            held = {json.dumps(s[0], sort_keys=True) for s in stored}
            if table == "audit_events":  # and the export's own record, written after it
                assert exported < held
                assert [json.loads(e)["action"] for e in held - exported] == ["export"]
            else:
                assert exported == held, table
    assert set(tables) >= {"tenants", "users", "conversations", "messages", "feedback", "usage_metrics"}
    # read in one slice, the same rows (the parallel slices split by id, lose and repeat none)
    one = b"".join(service.export.jsonl(tenant_id=gov.tenant, parallel=1)).splitlines()
    sliced = b"".join(service.export.jsonl(tenant_id=gov.tenant, parallel=3)).splitlines()
    data = [line for line in one if b'"table":"' in line and b'"audit_events"' not in line]
    assert sorted(data) == sorted(
        line for line in sliced if b'"table":"' in line and b'"audit_events"' not in line
    )


def test_csv_and_markdown(gov: Gov, service: Store) -> None:
    admin = service.as_user(gov.auth["admin"], tenant_id=gov.tenant)
    files: dict[str, bytes] = {}
    for table, chunk in admin.export.csv(member_id=gov.member["m1"]):
        files[table] = files.get(table, b"") + chunk
    messages = list(csv.DictReader(io.StringIO(files["messages"].decode())))
    assert len(messages) == 8
    assert {m["user_id"] for m in messages} == {str(gov.member["m1"])}
    audit = list(csv.DictReader(io.StringIO(files["audit_events"].decode())))
    assert audit
    assert all(str(gov.member["m1"]) in (a["subject_id"], a["actor_member_id"]) for a in audit)
    text = "".join(admin.export.markdown(member_id=gov.member["m1"]))
    assert text.count("\n## ") == 2
    assert text.count("**user**") == 4
    assert text.count("**assistant**") == 4
    assert "(archived)" in text
    assert gov.email["m1"] in text


def test_the_async_iterators_give_the_same_rows(db_url: str, gov: Gov) -> None:
    async def run() -> tuple[list[dict[str, Any]], str]:
        async with await AsyncStore.connect(
            db_url, auth_user_id=gov.auth["m2"], tenant_id=gov.tenant
        ) as store:
            data = b"".join([chunk async for chunk in store.export.jsonl(member_id=gov.member["m2"])])
            text = "".join(
                [t async for t in store.export.markdown(conversation_id=gov.conversations["m2.0"])]
            )
            return [json.loads(line) for line in data.splitlines()], text

    records, text = asyncio.run(run())
    with Store.connect(db_url, auth_user_id=gov.auth["m2"], tenant_id=gov.tenant) as store:
        synced = jsonl(store, member_id=gov.member["m2"])
    assert Counter(r.get("table") for r in records) == Counter(r.get("table") for r in synced)
    assert rows_by_table(records)["messages"] == rows_by_table(synced)["messages"]
    assert text.count("**") == 8


def test_a_store_for_a_member_does_not_export(gov: Gov, service: Store) -> None:
    with pytest.raises(Unsupported):
        list(service.for_member(gov.tenant, gov.member["m1"]).export.jsonl())


def test_the_export_command(
    db_url: str, gov: Gov, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m1.jsonl"
    base = ["export", "--database-url", db_url, "--tenant", str(gov.tenant)]
    assert main([*base, "--member", str(gov.member["m1"]), "--output", str(out)]) == 0
    lines = out.read_bytes().splitlines()
    records = [json.loads(line) for line in lines]
    assert records[0]["type"] == "header"
    assert records[-1]["type"] == "end"
    assert Counter(r.get("table") for r in records)["messages"] == records[-1]["rows"]["messages"] == 8
    assert main([*base, "--format", "csv", "--output", str(tmp_path / "csv")]) == 0
    assert {p.name for p in (tmp_path / "csv").iterdir()} >= {"messages.csv", "users.csv", "tenants.csv"}
    md = tmp_path / "t.md"
    assert (
        main(
            [
                *base,
                "--conversation",
                str(gov.conversations["m2.0"]),
                "--format",
                "markdown",
                "--output",
                str(md),
            ]
        )
        == 0
    )
    assert md.read_text().count("**user**") == 2
    # as a user: their rights, and the same refusal for what they may not export
    as_m1 = [*base, "--as-user", str(gov.auth["m1"])]
    assert main([*as_m1, "--member", str(gov.member["m2"]), "--output", str(tmp_path / "no.jsonl")]) == 1
    assert "not found, or not visible to you" in capsys.readouterr().err
    # a refused export leaves nothing behind, and an export never overwrites
    assert sorted(p.name for p in tmp_path.iterdir()) == ["csv", "m1.jsonl", "t.md"]
    before = out.read_bytes()
    assert main([*base, "--member", str(gov.member["m1"]), "--output", str(out)]) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_the_maintain_command(
    db_url: str, gov: Gov, service: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    service.governance.set_retention(messages_days=1, tenant_id=gov.tenant)
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "update messages set created_at = now() - interval '2 days' where conversation_id = %s",
            (gov.conversations["m2.0"],),
        )
        conn.commit()
    assert main(["maintain", "--database-url", db_url, "--batch-size", "2"]) == 0
    assert "retention: 4 rows" in capsys.readouterr().out
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "select message_count from conversations where id = %s", (gov.conversations["m2.0"],)
        ).fetchone() == (0,)


def test_a_small_pool_exports_a_tenant_on_the_connections_it_has(db_url: str, gov: Gov) -> None:
    with Store.connect(db_url, service_role=True, min_size=1, max_size=1) as store:
        records = jsonl(store, tenant_id=gov.tenant)
    assert records[-1]["rows"]["messages"] == 24
